import { useHealth } from '../hooks/useHealth'

export function Header() {
  const { version, status } = useHealth()

  return (
    <header className="border-b border-border/70 bg-background/80">
      <div className="mx-auto flex max-w-6xl items-center justify-between gap-3 px-4 py-3 sm:px-6">
        <a href="/" className="flex items-center gap-2.5 rounded-lg" aria-label="QuickDapp home">
          <img src="/favicon.svg" alt="" width={32} height={32} className="size-8" />
          <span className="text-lg font-bold tracking-tight">QuickDapp</span>
        </a>

        <div className="flex items-center gap-2 text-sm">
          <span className="hidden text-muted sm:inline">Server</span>
          <span
            className="rounded-full border border-border bg-surface px-2.5 py-1 font-mono text-xs text-foreground"
            title="Version reported by the server"
          >
            <span className="sr-only">Server version </span>
            {version ? (
              <>
                v<span data-testid="app-version">{version}</span>
              </>
            ) : (
              <span data-testid="app-version" className="text-muted">
                {status === 'loading' ? '…' : 'unknown'}
              </span>
            )}
          </span>
        </div>
      </div>
    </header>
  )
}
