import { describe, expect, it, vi } from 'vitest'
import { createRefresher, REFRESH_LOCK_NAME, type LockManagerLike, type SessionCheck } from './refresh'

/** An exclusive lock manager shared by several "tabs", like `navigator.locks`. */
function sharedLocks(): LockManagerLike & { names: string[] } {
  let tail: Promise<unknown> = Promise.resolve()
  const names: string[] = []
  return {
    names,
    request<T>(name: string, callback: (lock: unknown) => Promise<T>): Promise<T> {
      names.push(name)
      const run = tail.then(() => callback({ name }))
      tail = run.catch(() => undefined)
      return run
    },
  }
}

/**
 * A server with single-use refresh tokens: the access token is valid once
 * refreshed; presenting a spent refresh token ends the session.
 */
function fakeServer() {
  const state = { accessValid: false, refreshToken: 1, spent: new Set<number>(), revoked: false, refreshCalls: 0 }
  const cookieJar = { refreshToken: 1 } // shared by every tab (cookies)
  return {
    state,
    checkSession: vi.fn(async (): Promise<SessionCheck> => {
      await Promise.resolve()
      return state.accessValid && !state.revoked ? 'valid' : 'invalid'
    }),
    refresh: vi.fn(async (): Promise<boolean> => {
      state.refreshCalls++
      const presented = cookieJar.refreshToken
      await new Promise((r) => setTimeout(r, 5))
      if (state.spent.has(presented) || state.revoked) {
        state.revoked = true
        return false
      }
      state.spent.add(presented)
      state.refreshToken = presented + 1
      cookieJar.refreshToken = presented + 1
      state.accessValid = true
      return true
    }),
  }
}

describe('createRefresher', () => {
  it('lets only one of several tabs spend the refresh token', async () => {
    const locks = sharedLocks()
    const server = fakeServer()
    const tabs = [1, 2, 3].map(() => createRefresher({ locks, checkSession: server.checkSession, refresh: server.refresh }))
    const results = await Promise.all(tabs.map((ensureFresh) => ensureFresh()))
    expect(results).toEqual([true, true, true])
    expect(server.state.refreshCalls).toBe(1)
    expect(server.state.revoked).toBe(false)
    expect(locks.names.every((n) => n === REFRESH_LOCK_NAME)).toBe(true)
    // Tabs 2 and 3 checked the session inside the lock and found it fresh.
    expect(server.checkSession).toHaveBeenCalledTimes(3)
  })

  it('without the lock, concurrent tabs would reuse the token and lose the session', async () => {
    const server = fakeServer()
    const tabs = [1, 2].map(() => createRefresher({ locks: null, checkSession: server.checkSession, refresh: server.refresh }))
    const results = await Promise.all(tabs.map((ensureFresh) => ensureFresh()))
    expect(server.state.refreshCalls).toBe(2)
    expect(server.state.revoked).toBe(true)
    expect(results).toContain(false)
  })

  it('shares one attempt between concurrent callers in a tab', async () => {
    const server = fakeServer()
    const ensureFresh = createRefresher({ locks: sharedLocks(), checkSession: server.checkSession, refresh: server.refresh })
    const results = await Promise.all([ensureFresh(), ensureFresh(), ensureFresh()])
    expect(results).toEqual([true, true, true])
    expect(server.checkSession).toHaveBeenCalledTimes(1)
    expect(server.refresh).toHaveBeenCalledTimes(1)
  })

  it('does not refresh when the session is already valid', async () => {
    const server = fakeServer()
    server.state.accessValid = true
    const ensureFresh = createRefresher({ locks: sharedLocks(), checkSession: server.checkSession, refresh: server.refresh })
    expect(await ensureFresh()).toBe(true)
    expect(server.refresh).not.toHaveBeenCalled()
  })

  it('reports a session that cannot be renewed', async () => {
    const ensureFresh = createRefresher({
      locks: sharedLocks(),
      checkSession: async () => 'invalid',
      refresh: async () => false,
    })
    expect(await ensureFresh()).toBe(false)
  })

  it('propagates network errors and allows a later retry', async () => {
    let down = true
    const checkSession = vi.fn(async (): Promise<SessionCheck> => {
      if (down) throw new TypeError('Failed to fetch')
      return 'valid'
    })
    const ensureFresh = createRefresher({ locks: sharedLocks(), checkSession, refresh: async () => true })
    await expect(ensureFresh()).rejects.toThrow('Failed to fetch')
    down = false
    await expect(ensureFresh()).resolves.toBe(true)
  })
})
