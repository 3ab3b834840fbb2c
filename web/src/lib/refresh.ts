/**
 * Access-token refresh that is safe across tabs.
 *
 * Refresh tokens are single use: presenting a spent one ends the whole
 * session. Two tabs that notice an expired access token at the same moment
 * must therefore not both call `/auth/refresh`. Every tab takes the same
 * Web Lock (`qd-auth-refresh`) and, holding it, first asks the server whether
 * the current cookies already work (another tab may have just refreshed:
 * cookies are shared). Only if they do not does it spend the refresh token.
 * Within one tab, concurrent callers share one attempt.
 */

export const REFRESH_LOCK_NAME = 'qd-auth-refresh'

/** The subset of `navigator.locks` used here (injectable for tests). */
export interface LockManagerLike {
  request<T>(name: string, callback: (lock: unknown) => Promise<T>): Promise<T>
}

export type SessionCheck = 'valid' | 'invalid'

export interface RefresherDeps {
  /** `null` when the Web Locks API is missing (insecure context, old browser). */
  locks: LockManagerLike | null
  /** Do the current cookies authenticate? Throws on network/server failure. */
  checkSession: () => Promise<SessionCheck>
  /** Spend the refresh token. `true`: new cookies set; `false`: the session is over. */
  refresh: () => Promise<boolean>
}

export type Refresher = () => Promise<boolean>

/**
 * Returns `ensureFresh()`: resolves `true` when the cookies are (now) valid,
 * `false` when the session cannot be renewed (signed out). Rejects on
 * network errors, leaving the session untouched.
 */
export function createRefresher(deps: RefresherDeps): Refresher {
  let inFlight: Promise<boolean> | null = null

  const underLock = async (): Promise<boolean> => {
    if ((await deps.checkSession()) === 'valid') return true
    return deps.refresh()
  }

  return () => {
    if (!inFlight) {
      const attempt = deps.locks ? deps.locks.request(REFRESH_LOCK_NAME, underLock) : underLock()
      inFlight = attempt.finally(() => {
        inFlight = null
      })
    }
    return inFlight
  }
}

/** `navigator.locks` when available. */
export function browserLocks(): LockManagerLike | null {
  if (typeof navigator === 'undefined' || !('locks' in navigator) || !navigator.locks) return null
  const locks = navigator.locks
  return {
    request: <T>(name: string, callback: (lock: unknown) => Promise<T>) =>
      locks.request(name, { mode: 'exclusive' }, callback) as Promise<T>,
  }
}
