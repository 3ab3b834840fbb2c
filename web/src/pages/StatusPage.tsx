import { useQuery } from '@tanstack/react-query'
import { Badge, type Tone } from '../components/Badge'
import { HealthCard } from '../components/HealthCard'
import { AlertIcon, RefreshIcon } from '../components/icons'
import { useAuth } from '../hooks/auth'
import { useConfig } from '../hooks/config'
import { useHealth } from '../hooks/useHealth'
import { formatDateTime, formatRelative, humanize } from '../lib/format'
import { errorMessage } from '../lib/http'
import { fetchJobStatus } from '../lib/jobs'
import { queryKeys } from '../lib/queryClient'

function JobsCard() {
  const jobs = useQuery({ queryKey: queryKeys.adminJobs, queryFn: fetchJobStatus, refetchInterval: 15_000 })
  const result = jobs.data

  return (
    <section aria-labelledby="jobs-title" className="card" data-testid="jobs-card">
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div>
          <h2 id="jobs-title" className="text-base font-semibold">
            Background jobs
          </h2>
          <p className="mt-1 text-sm text-muted">Queue counts and recent failures. Visible to admins only.</p>
        </div>
        <button
          type="button"
          onClick={() => void jobs.refetch()}
          aria-busy={jobs.isFetching}
          className="flex-center size-9 rounded-lg border border-border bg-background text-muted transition-colors hover:text-foreground"
          aria-label="Refresh job status"
          title="Refresh job status"
        >
          <RefreshIcon className={`size-4 ${jobs.isFetching ? 'animate-spin' : ''}`} />
        </button>
      </div>

      {jobs.isPending ? (
        <div className="mt-5 h-16 animate-pulse rounded-xl bg-border/60" aria-hidden="true" />
      ) : !result || !result.available ? (
        <p className="mt-5 flex items-start gap-2 rounded-xl border border-border bg-background p-4 text-sm text-muted" data-testid="jobs-unavailable">
          <AlertIcon className="mt-0.5 size-4 shrink-0" />
          <span>
            Job status unavailable.{' '}
            {result && !result.available ? result.reason : jobs.error ? errorMessage(jobs.error) : ''}
          </span>
        </p>
      ) : (
        <div data-testid="jobs-available">
          {result.summary.counts.length === 0 ? (
            <p className="mt-5 text-sm text-muted">No jobs in the queue.</p>
          ) : (
            <>
              {result.summary.countsFrom === 'list' && (
                <p className="mt-4 text-xs text-muted">By status, across the {result.summary.listed} most recent jobs.</p>
              )}
              <dl className="mt-3 grid grid-cols-2 gap-3 sm:grid-cols-4">
                {result.summary.counts.map(([status, count]) => (
                  <div key={status} className="rounded-xl border border-border bg-background p-3" data-testid="job-count" data-status={status}>
                    <dt className="text-xs font-medium text-muted">{humanize(status)}</dt>
                    <dd className="mt-1 text-2xl font-bold tabular-nums">{count}</dd>
                  </div>
                ))}
              </dl>
            </>
          )}
          <h3 className="mt-6 text-sm font-semibold">Recent failures</h3>
          {result.summary.failures.length === 0 ? (
            <p className="mt-2 text-sm text-muted" data-testid="jobs-no-failures">
              None among the {result.summary.listed} most recent jobs.
            </p>
          ) : (
            <ul className="mt-2 divide-y divide-border rounded-xl border border-border bg-background">
              {result.summary.failures.map((failure) => {
                const when = failure.when ? new Date(failure.when) : null
                return (
                  <li key={failure.id} className="px-4 py-3 text-sm" data-testid="job-failure">
                    <div className="flex flex-wrap items-center justify-between gap-2">
                      <p className="font-mono text-xs font-semibold">
                        #{failure.id} {failure.type}
                      </p>
                      {when && !Number.isNaN(when.getTime()) && (
                        <time className="text-xs text-muted" dateTime={failure.when ?? undefined} title={formatDateTime(when)}>
                          {formatRelative(when)}
                        </time>
                      )}
                    </div>
                    <p className="mt-1 font-mono text-xs break-words text-red-800 dark:text-red-300">{failure.error}</p>
                  </li>
                )
              })}
            </ul>
          )}
        </div>
      )}
    </section>
  )
}

export function StatusPage() {
  const { user } = useAuth()
  const { config } = useConfig()
  const { status } = useHealth()
  const tone: Tone = status === 'ready' ? 'success' : status === 'loading' ? 'neutral' : status === 'not_ready' ? 'warning' : 'error'

  return (
    <div className="mx-auto max-w-5xl px-4 py-10 sm:px-6 sm:py-14">
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <h1 className="text-2xl font-bold tracking-tight sm:text-3xl">System status</h1>
          <p className="mt-1 text-sm text-muted">Liveness, readiness and background work of this server.</p>
        </div>
        <Badge tone={tone} data-testid="status-page-badge" data-status={status}>
          {status === 'ready' ? 'Operational' : status === 'loading' ? 'Checking…' : status === 'not_ready' ? 'Degraded' : 'Unreachable'}
        </Badge>
      </div>

      <div className="mt-6 grid gap-4 lg:grid-cols-2">
        <HealthCard title="Health and readiness" />
        <section aria-labelledby="server-title" className="card">
          <h2 id="server-title" className="text-base font-semibold">
            Server
          </h2>
          <dl className="mt-4 grid grid-cols-2 gap-4 text-sm">
            <div>
              <dt className="text-muted">Application</dt>
              <dd className="mt-0.5 font-medium">{config.appName}</dd>
            </div>
            <div>
              <dt className="text-muted">Version</dt>
              <dd className="mt-0.5 font-mono" data-testid="status-version">
                {config.version || '—'}
              </dd>
            </div>
            <div>
              <dt className="text-muted">Mode</dt>
              <dd className="mt-0.5 font-mono">{config.appMode}</dd>
            </div>
            <div>
              <dt className="text-muted">Sign-in chains</dt>
              <dd className="mt-0.5 font-mono">{config.chainIds.join(', ') || '—'}</dd>
            </div>
          </dl>
        </section>
        {user?.isAdmin ? (
          <div className="lg:col-span-2">
            <JobsCard />
          </div>
        ) : null}
      </div>
    </div>
  )
}
