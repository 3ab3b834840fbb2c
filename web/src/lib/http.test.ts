import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { GraphQLRequestError, graphql } from './graphql'
import { ApiError, NetworkError, onSessionLost, readCookie, requestJson, setRefresher } from './http'

type Call = { url: string; method: string; headers: Record<string, string>; body: unknown }

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })
}

let calls: Call[] = []
let answers: Array<() => Response> = []

beforeEach(() => {
  calls = []
  answers = []
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({
        url,
        method: init.method ?? 'GET',
        headers: init.headers as Record<string, string>,
        body: init.body ? JSON.parse(init.body as string) : undefined,
      })
      const next = answers.shift()
      if (!next) throw new TypeError('Failed to fetch')
      return next()
    }),
  )
  document.cookie = 'qd_csrf=; max-age=0; path=/'
})

afterEach(() => {
  vi.unstubAllGlobals()
})

const setCsrf = (value: string) => {
  document.cookie = `qd_csrf=${value}; path=/`
}

describe('requestJson', () => {
  it('sends the CSRF header on state-changing requests only', async () => {
    setCsrf('tok123')
    expect(readCookie('qd_csrf')).toBe('tok123')
    answers.push(() => json(200, { ok: 1 }), () => json(200, { ok: 2 }))
    await requestJson('/auth/session')
    await requestJson('/auth/logout', { method: 'POST' })
    expect(calls[0]!.headers['X-CSRF-Token']).toBeUndefined()
    expect(calls[1]!.headers['X-CSRF-Token']).toBe('tok123')
  })

  it('turns the error envelope into ApiError with Retry-After', async () => {
    answers.push(() => json(429, { error: { code: 'auth.rate_limited', message: 'slow down' } }, { 'retry-after': '7' }))
    const err = await requestJson('/auth/nonce').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 429, code: 'auth.rate_limited', message: 'slow down', retryAfter: 7 })
  })

  it('reports an unreachable server as NetworkError', async () => {
    await expect(requestJson('/health')).rejects.toBeInstanceOf(NetworkError)
  })

  it('refreshes once and retries after an expired access token', async () => {
    setCsrf('tok')
    const refresher = vi.fn(async () => true)
    setRefresher(refresher)
    answers.push(
      () => json(401, { error: { code: 'auth.token_expired', message: 'expired' } }),
      () => json(200, { user: { id: 1 } }),
    )
    await expect(requestJson('/auth/session')).resolves.toEqual({ user: { id: 1 } })
    expect(refresher).toHaveBeenCalledTimes(1)
    expect(calls).toHaveLength(2)
  })

  it('does not try to refresh without a session cookie, or for other errors', async () => {
    const refresher = vi.fn(async () => true)
    setRefresher(refresher)
    answers.push(() => json(401, { error: { code: 'auth.missing_token', message: 'no' } }))
    await expect(requestJson('/auth/session')).rejects.toMatchObject({ code: 'auth.missing_token' })
    setCsrf('tok')
    answers.push(() => json(401, { error: { code: 'auth.session_revoked', message: 'ended' } }))
    await expect(requestJson('/auth/session')).rejects.toMatchObject({ code: 'auth.session_revoked' })
    expect(refresher).not.toHaveBeenCalled()
  })

  it('announces a lost session when the refresh fails', async () => {
    setCsrf('tok')
    setRefresher(async () => false)
    const lost = vi.fn()
    const off = onSessionLost(lost)
    answers.push(() => json(401, { error: { code: 'auth.token_expired', message: 'expired' } }))
    await expect(requestJson('/auth/session')).rejects.toMatchObject({ status: 401 })
    expect(lost).toHaveBeenCalledTimes(1)
    off()
  })
})

describe('graphql', () => {
  it('posts the query with variables and the CSRF header', async () => {
    setCsrf('tok')
    answers.push(() => json(200, { data: { getMyUnreadNotificationsCount: 3 } }))
    await expect(graphql('query { getMyUnreadNotificationsCount }', { a: 1 })).resolves.toEqual({
      getMyUnreadNotificationsCount: 3,
    })
    expect(calls[0]).toMatchObject({
      url: '/api/graphql',
      method: 'POST',
      body: { query: 'query { getMyUnreadNotificationsCount }', variables: { a: 1 } },
    })
    expect(calls[0]!.headers['X-CSRF-Token']).toBe('tok')
  })

  it('surfaces extensions.code', async () => {
    answers.push(() => json(200, { data: null, errors: [{ message: 'not yours', extensions: { code: 'NOT_FOUND' } }] }))
    const err = await graphql('mutation { x }').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GraphQLRequestError)
    expect(err).toMatchObject({ code: 'NOT_FOUND', message: 'not yours' })
  })

  it('refreshes and retries once on UNAUTHORIZED', async () => {
    setCsrf('tok')
    const refresher = vi.fn(async () => true)
    setRefresher(refresher)
    answers.push(
      () => json(200, { data: null, errors: [{ message: 'sign in', extensions: { code: 'UNAUTHORIZED' } }] }),
      () => json(200, { data: { ok: true } }),
    )
    await expect(graphql('query { ok }')).resolves.toEqual({ ok: true })
    expect(refresher).toHaveBeenCalledTimes(1)
  })
})
