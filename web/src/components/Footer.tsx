export function Footer() {
  return (
    <footer className="border-t border-border/70">
      <div className="mx-auto flex max-w-6xl flex-col gap-2 px-4 py-6 text-sm text-muted sm:flex-row sm:items-center sm:justify-between sm:px-6">
        <p>QuickDapp: one binary, API and web UI.</p>
        <nav aria-label="Server endpoints">
          <ul className="flex flex-wrap gap-x-4 gap-y-1">
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
