/**
 * Same-origin JSON requests to the QuickDapp server with cookie sessions:
 * the double-submit CSRF header on state-changing requests, the server's
 * error envelope turned into `ApiError`, and one transparent retry after a
 * cross-tab-safe token refresh when the access token has expired.
 */
import { browserLocks, createRefresher, type Refresher } from './refresh'

export const CSRF_COOKIE = 'qd_csrf'
export const CSRF_HEADER = 'X-CSRF-Token'

/** An error answer from the server: `{"error":{"code","message"}}`. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  /** Seconds, from `Retry-After` (429). */
  readonly retryAfter: number | null
  constructor(status: number, code: string, message: string, retryAfter: number | null = null) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.retryAfter = retryAfter
  }
}

/** The server could not be reached (or answered something that is not JSON). */
export class NetworkError extends Error {
  constructor(message = 'The server could not be reached') {
    super(message)
    this.name = 'NetworkError'
  }
}

export function readCookie(name: string): string | null {
  if (typeof document === 'undefined') return null
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim()
      return value ? decodeURIComponent(value) : null
    }
  }
  return null
}

/** A readable CSRF cookie means a cookie session may exist (the access cookie is HttpOnly). */
export function hasSessionHint(): boolean {
  return readCookie(CSRF_COOKIE) !== null
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Codes after which refreshing the access token may help. */
const REFRESHABLE = new Set(['auth.token_expired', 'auth.missing_token', 'auth.invalid_token'])

export interface RequestOptions {
  method?: string
  body?: unknown
  signal?: AbortSignal
  /** Try a token refresh and retry once on an expired access token (default true). */
  refresh?: boolean
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const method = (options.method ?? 'GET').toUpperCase()
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'
  if (!SAFE_METHODS.has(method)) {
    const csrf = readCookie(CSRF_COOKIE)
    if (csrf) headers[CSRF_HEADER] = csrf
  }
  try {
    return await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal: options.signal,
    })
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err
    throw new NetworkError()
  }
}

async function toError(res: Response): Promise<ApiError> {
  let code = `http.${res.status}`
  let message = res.statusText || `HTTP ${res.status}`
  try {
    const body: unknown = await res.json()
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error
    if (error && typeof error.code === 'string') code = error.code
    if (error && typeof error.message === 'string') message = error.message
  } catch {
    // not JSON: keep the status line
  }
  const retryAfterHeader = res.headers.get('retry-after')
  const retryAfter = retryAfterHeader && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : null
  return new ApiError(res.status, code, message, retryAfter)
}

type SignedOutListener = () => void
const signedOutListeners = new Set<SignedOutListener>()

/** Called when a refresh finds the session over (so the UI can show "signed out"). */
export function onSessionLost(listener: SignedOutListener): () => void {
  signedOutListeners.add(listener)
  return () => signedOutListeners.delete(listener)
}

function sessionLost(): void {
  for (const listener of signedOutListeners) listener()
}

async function checkSessionRaw(): Promise<'valid' | 'invalid'> {
  const res = await send('/auth/session', { refresh: false })
  if (res.ok) return 'valid'
  if (res.status === 401) return 'invalid'
  throw await toError(res)
}

async function refreshRaw(): Promise<boolean> {
  if (!hasSessionHint()) return false
  const res = await send('/auth/refresh', { method: 'POST', refresh: false })
  if (res.ok) return true
  if (res.status === 401 || res.status === 403) return false
  throw await toError(res)
}

let refresher: Refresher = createRefresher({
  locks: browserLocks(),
  checkSession: checkSessionRaw,
  refresh: refreshRaw,
})

/** Replace the refresher (tests). */
export function setRefresher(next: Refresher): void {
  refresher = next
}

/**
 * Make sure the cookies hold a valid access token, refreshing (once, across
 * tabs) if needed. `false`: the session is over.
 */
export async function ensureFreshSession(): Promise<boolean> {
  const ok = await refresher()
  if (!ok) sessionLost()
  return ok
}

function canRefresh(path: string, options: RequestOptions): boolean {
  return options.refresh !== false && !path.startsWith('/auth/refresh') && hasSessionHint()
}

/** Send a request and parse its JSON body; throws `ApiError` / `NetworkError`. */
export async function requestJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  let res = await send(path, options)
  if (res.status === 401 && canRefresh(path, options)) {
    const error = await toError(res.clone())
    if (REFRESHABLE.has(error.code) && (await ensureFreshSession())) {
      res = await send(path, options)
    }
  }
  if (!res.ok) throw await toError(res)
  try {
    return (await res.json()) as T
  } catch {
    throw new NetworkError('The server sent an unreadable answer')
  }
}

/** Human text for any error thrown by the functions in this file. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError || err instanceof NetworkError) return err.message
  if (err instanceof Error && err.message) return err.message
  return 'Something went wrong'
}
