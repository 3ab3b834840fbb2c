/**
 * The admin job-queue view, read generically from `GET /api/admin/jobs`:
 * counts per status (from a `counts` object, or tallied from a `jobs` list)
 * and the most recent failures.
 */
import { ApiError, requestJson } from './http'

export interface JobFailure {
  id: string
  type: string
  when: string | null
  error: string
}

export interface JobSummary {
  counts: Array<[status: string, count: number]>
  /** `server`: the answer's own `counts`; `list`: tallied over the jobs listed. */
  countsFrom: 'server' | 'list'
  failures: JobFailure[]
  /** Number of jobs listed in the answer (the endpoint may page). */
  listed: number
}

export type JobsResult = { available: true; summary: JobSummary } | { available: false; reason: string }

const FAILED = new Set(['failed', 'dead', 'rescheduled', 'error', 'errored'])

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function str(value: unknown): string | null {
  if (typeof value === 'string' && value) return value
  if (typeof value === 'number') return String(value)
  return null
}

function jobList(body: unknown): Record<string, unknown>[] {
  const list = Array.isArray(body) ? body : isRecord(body) ? (body.jobs ?? body.items ?? body.recent) : null
  return Array.isArray(list) ? list.filter(isRecord) : []
}

function isFailure(job: Record<string, unknown>): boolean {
  const status = str(job.status)?.toLowerCase()
  if (status) return FAILED.has(status)
  return job.success === false
}

function failureOf(job: Record<string, unknown>): JobFailure {
  const result = isRecord(job.result) ? job.result : null
  return {
    id: str(job.id) ?? '?',
    type: str(job.type) ?? str(job.jobType) ?? 'job',
    when: str(job.finished) ?? str(job.finishedAt) ?? str(job.updatedAt) ?? str(job.createdAt),
    error: str(job.lastError) ?? str(job.error) ?? str(result?.error) ?? str(job.outcome) ?? str(job.status) ?? 'failed',
  }
}

export function summarizeJobs(body: unknown): JobSummary {
  const jobs = jobList(body)
  const counts = new Map<string, number>()
  const given = isRecord(body) && isRecord(body.counts) ? body.counts : null
  if (given) {
    for (const [status, count] of Object.entries(given)) {
      if (typeof count === 'number') counts.set(status, count)
    }
  } else {
    for (const job of jobs) {
      const status = str(job.status) ?? (job.success === false ? 'failed' : job.success === true ? 'succeeded' : 'unknown')
      counts.set(status, (counts.get(status) ?? 0) + 1)
    }
  }

  const explicit = isRecord(body) ? (body.recentFailures ?? body.failures) : null
  const failures = (Array.isArray(explicit) ? explicit.filter(isRecord) : jobs.filter(isFailure))
    .map(failureOf)
    .sort((a, b) => (b.when ?? '').localeCompare(a.when ?? ''))
    .slice(0, 5)

  const order = ['pending', 'running', 'succeeded', 'failed', 'rescheduled', 'dead', 'cancelled']
  const rank = (s: string) => (order.indexOf(s) === -1 ? order.length : order.indexOf(s))
  return {
    counts: [...counts.entries()].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0])),
    countsFrom: given ? 'server' : 'list',
    failures,
    listed: jobs.length,
  }
}

export async function fetchJobStatus(): Promise<JobsResult> {
  try {
    const body = await requestJson<unknown>('/api/admin/jobs?limit=100')
    return { available: true, summary: summarizeJobs(body) }
  } catch (err) {
    if (err instanceof ApiError) {
      const reason =
        err.status === 404
          ? 'This server does not publish job status.'
          : err.status === 403
            ? 'Your account is not allowed to see job status.'
            : err.message
      return { available: false, reason }
    }
    throw err
  }
}
