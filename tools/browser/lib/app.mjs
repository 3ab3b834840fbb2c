// Page-level helpers shared by the browser tests.
import assert from 'node:assert/strict'

/** Sign in through the UI: connect the injected wallet, sign the SIWE message, land on `next`. */
export async function signIn(page, baseUrl, { next = '/notifications' } = {}) {
  await page.goto(`${baseUrl}/signin${next === '/notifications' ? '' : `?next=${encodeURIComponent(next)}`}`)
  await page.getByTestId('connect-wallet').click()
  await page.getByTestId('signin-account').waitFor()
  await page.getByTestId('sign-in').click()
  await page.waitForURL(`${baseUrl}${next}`)
  await page.getByTestId('header-wallet').waitFor()
}

export function shortAddress(address) {
  return `${address.slice(0, 6)}…${address.slice(-4)}`
}

/** The context's session as the server sees it (the request shares the browser's cookies). */
export async function serverSession(context, baseUrl) {
  const res = await context.request.get(`${baseUrl}/auth/session`)
  return { status: res.status(), body: await res.json() }
}

/** POST GraphQL with the context's cookies and CSRF header, as the signed-in user. */
export async function graphqlAs(context, baseUrl, query, variables) {
  const cookies = await context.cookies(baseUrl)
  const csrf = cookies.find((c) => c.name === 'qd_csrf')?.value
  assert.ok(csrf, 'the context is signed in (qd_csrf cookie)')
  const res = await context.request.post(`${baseUrl}/api/graphql`, {
    data: { query, variables },
    headers: { 'X-CSRF-Token': csrf, 'content-type': 'application/json' },
  })
  const body = await res.json()
  assert.equal(res.status(), 200, JSON.stringify(body))
  assert.equal(body.errors, undefined, JSON.stringify(body.errors))
  return body.data
}

/** Wait until the element with `testId` has exactly `text` (trimmed). */
export async function waitForText(page, testId, text) {
  const exact = new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`)
  await page.getByTestId(testId).filter({ hasText: exact }).first().waitFor()
}

/**
 * Console errors other than the browser's own log lines for an expected HTTP error status
 * (401 before sign-in, 503 while a server restarts) or a refused WebSocket handshake (the
 * socket retries). CSP violations ("Refused to ...") and uncaught page errors remain.
 */
export function unexpectedErrors(errors, { allowSocketErrors = false } = {}) {
  return errors.filter(
    (line) =>
      !/Failed to load resource: the server responded with a status of (401|404|503)/.test(line) &&
      !(allowSocketErrors && /WebSocket connection to .* failed/.test(line)),
  )
}
