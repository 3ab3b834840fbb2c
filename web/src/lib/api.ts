/**
 * Minimal client for the QuickDapp server's JSON endpoints.
 *
 * The SPA is served by the same binary as the API, so every request is
 * same-origin and relative (this also keeps it within the server's CSP).
 */

export interface HealthResponse {
  status: string
  version: string
  timestamp: string
}

/** One entry of the readiness `checks` map. Extra fields are tolerated. */
export interface CheckResult {
  ok: boolean
  latency_ms?: number
  error?: string
}

export interface ReadinessResponse {
  status: string
  checks: Record<string, CheckResult>
}

export type OverallStatus = 'ready' | 'not_ready' | 'unreachable'

export interface HealthSnapshot {
  status: OverallStatus
  /** Server version from `/health`, if it answered. */
  version: string | null
  /** Readiness checks sorted by name (the server's map order is not stable). */
  checks: Array<[name: string, result: CheckResult]>
  /** Round trip of the `/health/ready` request in milliseconds. */
  responseTimeMs: number | null
  /** Why the status is not `ready`, when the checks alone don't say. */
  error: string | null
  checkedAt: Date
}

const DEFAULT_TIMEOUT_MS = 4000

export class HttpError extends Error {
  readonly status: number
  constructor(status: number, statusText: string) {
    super(`HTTP ${status}${statusText ? ` ${statusText}` : ''}`)
    this.name = 'HttpError'
    this.status = status
  }
}

interface JsonResult {
  status: number
  ok: boolean
  body: unknown
}

/**
 * GET a JSON document. Non-2xx responses with a JSON body are returned (the
 * readiness probe answers 503 with details); anything else throws.
 */
export async function getJson(
  path: string,
  { signal, timeoutMs = DEFAULT_TIMEOUT_MS }: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<JsonResult> {
  const controller = new AbortController()
  const onAbort = () => controller.abort(signal?.reason)
  if (signal?.aborted) onAbort()
  signal?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(
    () => controller.abort(new DOMException('Request timed out', 'TimeoutError')),
    timeoutMs,
  )

  try {
    const res = await fetch(path, {
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      signal: controller.signal,
    })
    const type = res.headers.get('content-type') ?? ''
    if (!type.includes('json')) throw new HttpError(res.status, res.statusText)
    const body: unknown = await res.json()
    return { status: res.status, ok: res.ok, body }
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function parseHealth(body: unknown): HealthResponse | null {
  if (!isRecord(body) || typeof body.status !== 'string') return null
  return {
    status: body.status,
    version: typeof body.version === 'string' ? body.version : '',
    timestamp: typeof body.timestamp === 'string' ? body.timestamp : '',
  }
}

export function parseReadiness(body: unknown): ReadinessResponse | null {
  if (!isRecord(body) || typeof body.status !== 'string') return null
  const checks: Record<string, CheckResult> = {}
  if (isRecord(body.checks)) {
    for (const [name, raw] of Object.entries(body.checks)) {
      if (!isRecord(raw)) continue
      const check: CheckResult = { ok: raw.ok === true }
      if (typeof raw.latency_ms === 'number' && Number.isFinite(raw.latency_ms)) {
        check.latency_ms = raw.latency_ms
      }
      if (typeof raw.error === 'string' && raw.error) check.error = raw.error
      checks[name] = check
    }
  }
  return { status: body.status, checks }
}

export function describeError(err: unknown): string {
  if (err instanceof HttpError) return err.message
  if (err instanceof DOMException && err.name === 'TimeoutError') return 'Request timed out'
  if (err instanceof TypeError) return 'Network error'
  if (err instanceof Error && err.message) return err.message
  return 'Unknown error'
}

/** Query `/health` and `/health/ready` in parallel and summarise the result. */
export async function checkHealth(signal?: AbortSignal): Promise<HealthSnapshot> {
  const started = performance.now()
  let readyDoneAt = started
  const [healthRes, readyRes] = await Promise.allSettled([
    getJson('/health', { signal }),
    getJson('/health/ready', { signal }).finally(() => {
      readyDoneAt = performance.now()
    }),
  ])
  const checkedAt = new Date()

  const health = healthRes.status === 'fulfilled' ? parseHealth(healthRes.value.body) : null
  const readiness = readyRes.status === 'fulfilled' ? parseReadiness(readyRes.value.body) : null

  if (!health && !readiness) {
    const reason = readyRes.status === 'rejected' ? readyRes.reason : healthRes.status === 'rejected' ? healthRes.reason : null
    return {
      status: 'unreachable',
      version: null,
      checks: [],
      responseTimeMs: null,
      error: reason ? describeError(reason) : 'Unexpected response from the server',
      checkedAt,
    }
  }

  const checks = readiness
    ? Object.entries(readiness.checks).sort(([a], [b]) => a.localeCompare(b))
    : []
  const isReady =
    readyRes.status === 'fulfilled' && readyRes.value.ok && readiness?.status === 'ready'

  let error: string | null = null
  if (!isReady) {
    if (readyRes.status === 'rejected') error = `Readiness probe failed: ${describeError(readyRes.reason)}`
    else if (!readiness) error = 'Readiness probe returned an unexpected response'
    else if (!checks.some(([, c]) => !c.ok)) error = `Server reports "${readiness.status}"`
  }

  return {
    status: isReady ? 'ready' : 'not_ready',
    version: health?.version || null,
    checks,
    responseTimeMs: readyRes.status === 'fulfilled' ? readyDoneAt - started : null,
    error,
    checkedAt,
  }
}
