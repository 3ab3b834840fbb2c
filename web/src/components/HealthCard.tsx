import { useHealth } from '../hooks/useHealth'
import type { OverallStatus } from '../lib/api'
import { formatLatency, formatTime, humanize } from '../lib/format'
import { Badge, type Tone } from './Badge'
import { RefreshIcon } from './icons'

const overall: Record<OverallStatus | 'loading', { label: string; tone: Tone; summary: string }> = {
  loading: { label: 'Checking…', tone: 'neutral', summary: 'Contacting the server…' },
  ready: { label: 'Ready', tone: 'success', summary: 'All systems operational.' },
  not_ready: { label: 'Not ready', tone: 'warning', summary: 'The server is up, but not ready to serve traffic.' },
  unreachable: { label: 'Unreachable', tone: 'error', summary: 'The server could not be reached.' },
}

export function HealthCard({ title = 'System status' }: { title?: string }) {
  const { status, snapshot, isFetching, intervalMs, refresh } = useHealth()
  const view = overall[status]
  const seconds = Math.round(intervalMs / 1000)

  return (
    <section aria-labelledby="health-title" className="card shadow-glow">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0">
          <h2 id="health-title" className="text-base font-semibold">
            {title}
          </h2>
          <p className="mt-1 text-sm text-muted">{view.summary}</p>
        </div>
        <div className="flex items-center gap-2">
          <span role="status" aria-live="polite" aria-atomic="true">
            <span className="sr-only">Overall status: </span>
            <Badge tone={view.tone} pulse={status === 'ready'} data-testid="health-status" data-status={status}>
              {view.label}
            </Badge>
          </span>
          <button
            type="button"
            onClick={refresh}
            aria-busy={isFetching}
            className="flex-center size-9 rounded-lg border border-border bg-background text-muted transition-colors hover:text-foreground aria-busy:cursor-wait"
            aria-label="Check status now"
            title="Check status now"
          >
            <RefreshIcon className={`size-4 ${isFetching ? 'animate-spin' : ''}`} />
          </button>
        </div>
      </div>

      {snapshot?.error && (
        <p className="mt-4 rounded-lg border border-error/30 bg-error/5 px-3 py-2 text-sm text-red-800 dark:text-red-300">
          {snapshot.error}
          {status === 'unreachable' && `. Retrying every ${seconds} s.`}
        </p>
      )}

      {snapshot && snapshot.checks.length > 0 && (
        <ul className="mt-5 divide-y divide-border rounded-xl border border-border bg-background" aria-label="Checks">
          {snapshot.checks.map(([name, check]) => (
            <li key={name} className="px-4 py-3">
              <div className="flex items-center justify-between gap-4">
                <p className="min-w-0 truncate text-sm font-medium">{humanize(name)}</p>
                <div className="flex shrink-0 items-center gap-3">
                  {check.latency_ms !== undefined && (
                    <span className="font-mono text-xs text-muted tabular-nums">
                      <span className="sr-only">Latency </span>
                      {formatLatency(check.latency_ms)}
                    </span>
                  )}
                  <Badge tone={check.ok ? 'success' : 'error'}>{check.ok ? 'OK' : 'Failing'}</Badge>
                </div>
              </div>
              {check.error && (
                <p className="mt-1.5 font-mono text-xs break-words text-red-800 dark:text-red-300">{check.error}</p>
              )}
            </li>
          ))}
        </ul>
      )}

      {status === 'loading' && (
        <div className="mt-5 space-y-2" aria-hidden="true">
          <div className="h-11 animate-pulse rounded-xl bg-border/60" />
        </div>
      )}

      <dl className="mt-5 grid grid-cols-2 gap-4 border-t border-border pt-4 text-sm">
        <div>
          <dt className="text-muted">Response time</dt>
          <dd className="mt-0.5 font-mono tabular-nums">
            {snapshot?.responseTimeMs != null ? formatLatency(snapshot.responseTimeMs) : '—'}
          </dd>
        </div>
        <div>
          <dt className="text-muted">Last checked</dt>
          <dd className="mt-0.5 font-mono tabular-nums">
            {snapshot ? (
              <time dateTime={snapshot.checkedAt.toISOString()}>{formatTime(snapshot.checkedAt)}</time>
            ) : (
              '—'
            )}
          </dd>
        </div>
      </dl>
      <p className="mt-3 text-xs text-muted">
        Updates every {seconds} s and when you return to this tab.
      </p>
    </section>
  )
}
