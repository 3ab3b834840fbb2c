import { useHealth } from '../hooks/useHealth'
import { Link } from '../lib/router'

export function Footer() {
  const { version, status } = useHealth()
  return (
    <footer className="border-t border-border/70">
      <div className="mx-auto flex max-w-6xl flex-col gap-3 px-4 py-6 text-sm text-muted sm:flex-row sm:items-center sm:justify-between sm:px-6">
        <p>
          QuickDapp: one binary, API and web UI.{' '}
          <span className="whitespace-nowrap">
            Server{' '}
            <span className="font-mono text-xs" title="Version reported by the server">
              {version ? (
                <>
                  v<span data-testid="app-version">{version}</span>
                </>
              ) : (
                <span data-testid="app-version">{status === 'loading' ? '…' : 'unknown'}</span>
              )}
            </span>
          </span>
        </p>
        <nav aria-label="Footer">
          <ul className="flex flex-wrap gap-x-4 gap-y-1">
            <li>
              <Link className="rounded underline-offset-4 hover:text-foreground hover:underline" href="/status">
                System status
              </Link>
            </li>
            <li>
              <a className="rounded underline-offset-4 hover:text-foreground hover:underline" href="/health">
                /health
              </a>
            </li>
            <li>
              <a className="rounded underline-offset-4 hover:text-foreground hover:underline" href="/health/ready">
                /health/ready
              </a>
            </li>
          </ul>
        </nav>
      </div>
    </footer>
  )
}
