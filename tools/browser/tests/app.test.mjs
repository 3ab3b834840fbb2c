// The web UI in headless Chromium against the real binary on SQLite: SIWE sign-in with a
// real signature, sessions across reloads and tabs, account, sign-out, status.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { serverSession, shortAddress, signIn, unexpectedErrors, waitForText } from '../lib/app.mjs'
import { ADMIN_KEY, launchBrowser, MEMBER_KEY, screenshotBoth, walletContext, watchPageErrors } from '../lib/browser.mjs'
import { QuickdappServer } from '../lib/server.mjs'

const admin = privateKeyToAccount(ADMIN_KEY)
const member = privateKeyToAccount(MEMBER_KEY)

let server
let browser
let base

before(async () => {
  server = new QuickdappServer({ env: { ADMIN_WALLETS: admin.address } })
  await server.start()
  base = server.url
  browser = await launchBrowser()
})

after(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('landing and status, signed out', () => {
  it('renders the landing page within the CSP, with live health', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await context.newPage()
    const errors = watchPageErrors(page)
    await page.goto(base)
    await page.getByRole('heading', { level: 1 }).waitFor()
    await page.locator('[data-testid="health-status"][data-status="ready"]').waitFor()
    await page.getByTestId('cta-signin').waitFor()
    await screenshotBoth(page, 'landing')
    assert.deepEqual(unexpectedErrors(errors), [])
    await context.close()
  })

  it('shows readiness checks on the status page, without the admin section', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${base}/status`)
    await page.locator('[data-testid="status-page-badge"][data-status="ready"]').waitFor()
    await page.getByText('Database').first().waitFor()
    assert.equal(await page.getByTestId('jobs-card').count(), 0)
    await screenshotBoth(page, 'status')
    await context.close()
  })

  it('answers an unknown path with the not-found page', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    const res = await page.goto(`${base}/no/such/page`)
    assert.equal(res.status(), 200)
    await page.getByRole('heading', { name: 'Page not found' }).waitFor()
    assert.equal(await page.title(), 'Page not found · QuickDapp')
    await screenshotBoth(page, 'not-found')
    await context.close()
  })

  it('asks for a wallet when none is injected', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${base}/signin`)
    await page.getByTestId('signin-no-wallet').waitFor()
    await screenshotBoth(page, 'signin-no-wallet')
    await context.close()
  })

  it('shows a sign-in prompt on pages that need a session', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(`${base}/account`)
    await page.getByTestId('signin-required').waitFor()
    await context.close()
  })
})

describe('sign-in with an injected wallet', () => {
  it('offers a network switch when the wallet is on a chain the server does not accept', async () => {
    const { context } = await walletContext(browser, { privateKey: MEMBER_KEY, chainId: '0x89' })
    const page = await context.newPage()
    await page.goto(`${base}/signin`)
    await page.getByTestId('connect-wallet').click()
    await page.getByTestId('signin-wrong-chain').waitFor()
    await screenshotBoth(page, 'signin-wrong-chain')
    await page.getByTestId('switch-chain').click()
    await page.locator('[data-testid="signin-chain"][data-chain-id="1"]').waitFor()
    assert.equal(await page.evaluate(() => window.__qdWallet.chainId), '0x1')
    await context.close()
  })

  it('explains a rejected signature, then signs in for real and stays signed in across reloads', async () => {
    const { context } = await walletContext(browser, { privateKey: MEMBER_KEY })
    const page = await context.newPage()
    const errors = watchPageErrors(page)
    await page.goto(`${base}/signin?next=/account`)
    await page.getByTestId('connect-wallet').click()
    await waitForText(page, 'signin-account', shortAddress(member.address))
    await screenshotBoth(page, 'signin-connected')

    await page.evaluate(() => {
      window.__qdWallet.rejectNextSignature = true
    })
    await page.getByTestId('sign-in').click()
    await page.locator('[data-testid="signin-error"][data-code="wallet.rejected"]').waitFor()
    assert.equal((await serverSession(context, base)).status, 401)

    await page.getByTestId('sign-in').click()
    await page.waitForURL(`${base}/account`)
    await waitForText(page, 'account-wallet', member.address)
    const session = await serverSession(context, base)
    assert.equal(session.status, 200)
    assert.equal(session.body.user.wallet.toLowerCase(), member.address.toLowerCase())
    assert.equal(session.body.user.isAdmin, false)

    await page.reload()
    await waitForText(page, 'account-wallet', member.address)
    await waitForText(page, 'header-wallet', shortAddress(member.address))
    assert.deepEqual(unexpectedErrors(errors), [])
    await context.close()
  })

  it('shows the server error when the sign-in message is refused', async () => {
    const { context } = await walletContext(browser, { privateKey: MEMBER_KEY })
    const page = await context.newPage()
    // The page is served from 127.0.0.1; "localhost" is another domain for SIWE.
    await page.goto(`${base.replace('127.0.0.1', 'localhost')}/signin`)
    await page.getByTestId('connect-wallet').click()
    await page.getByTestId('sign-in').click()
    await page.locator('[data-testid="signin-error"][data-code="auth.domain_mismatch"]').waitFor()
    await context.close()
  })
})

describe('signed in', () => {
  it('shows the account page: wallet, role and session times', async () => {
    const { context } = await walletContext(browser, { privateKey: ADMIN_KEY })
    const page = await context.newPage()
    await signIn(page, base, { next: '/account' })
    await waitForText(page, 'account-wallet', admin.address)
    await page.getByTestId('admin-badge').waitFor()
    const session = await serverSession(context, base)
    const created = await page.getByTestId('session-created').getAttribute('datetime')
    const expires = await page.getByTestId('session-expires').getAttribute('datetime')
    assert.equal(created, session.body.session.createdAt)
    assert.equal(expires, session.body.session.expiresAt)
    await screenshotBoth(page, 'account')
    await context.close()
  })

  it('shows health checks and the job section to an admin', async () => {
    const { context } = await walletContext(browser, { privateKey: ADMIN_KEY })
    const page = await context.newPage()
    await signIn(page, base, { next: '/status' })
    await page.locator('[data-testid="status-page-badge"][data-status="ready"]').waitFor()
    await page.getByTestId('jobs-card').waitFor()
    // Either the queue answers, or the card says plainly that it cannot.
    await page.locator('[data-testid="jobs-available"], [data-testid="jobs-unavailable"]').first().waitFor()
    await screenshotBoth(page, 'status-admin')
    await context.close()
  })

  it('renews an expired access token once, even with two tabs asking at the same moment', async () => {
    const { context } = await walletContext(browser, { privateKey: MEMBER_KEY })
    const first = await context.newPage()
    await signIn(first, base, { next: '/account' })
    const second = await context.newPage()
    await second.goto(`${base}/account`)
    await second.getByTestId('account-wallet').waitFor()

    // Leave the app in both tabs first: a request of a page being unloaded (cancelled with its
    // document) is another race than the one this test is about.
    await Promise.all([first.goto('about:blank'), second.goto('about:blank')])
    const isRefresh = (request) => request.url().endsWith('/auth/refresh')
    const refreshes = []
    context.on('request', (request) => {
      if (isRefresh(request)) refreshes.push(request)
    })
    const refreshed = context.waitForEvent('request', isRefresh)
    // The access cookie is gone, as when its 15 minutes are up; the refresh cookie stays.
    await context.clearCookies({ name: 'qd_access' })
    await Promise.all([first.goto(`${base}/account`), second.goto(`${base}/account`)])
    await Promise.all([first.getByTestId('account-wallet').waitFor(), second.getByTestId('account-wallet').waitFor()])
    await refreshed
    // Had both tabs spent the single-use refresh token, the server would have ended the session.
    assert.equal(refreshes.length, 1, 'exactly one tab spent the refresh token')
    assert.equal((await serverSession(context, base)).status, 200, 'the session survived')
    await first.reload()
    await first.getByTestId('account-wallet').waitFor()
    await context.close()
  })

  it('sign out ends the session', async () => {
    const { context } = await walletContext(browser, { privateKey: MEMBER_KEY })
    const page = await context.newPage()
    await signIn(page, base, { next: '/account' })
    const before = await context.cookies(base)
    const access = before.find((c) => c.name === 'qd_access')
    assert.ok(access, 'signed in with an access cookie')
    const otherTab = await context.newPage()
    await otherTab.goto(`${base}/status`)
    await otherTab.getByTestId('header-wallet').waitFor()

    await page.getByTestId('sign-out').click()
    await page.waitForURL(`${base}/`)
    await page.getByTestId('header-signin').waitFor()
    // The other tab hears about it (BroadcastChannel) without a reload.
    await otherTab.getByTestId('header-signin').waitFor()
    assert.equal((await serverSession(context, base)).status, 401)

    // The old access token no longer works either (the server ended the session).
    const replay = await context.request.get(`${base}/auth/session`, { headers: { Cookie: `qd_access=${access.value}` } })
    assert.equal(replay.status(), 401)

    await page.goto(`${base}/account`)
    await page.getByTestId('signin-required').waitFor()
    await context.close()
  })

  it('sign out everywhere ends the sessions of other browsers', async () => {
    const a = await walletContext(browser, { privateKey: MEMBER_KEY })
    const b = await walletContext(browser, { privateKey: MEMBER_KEY })
    const pageA = await a.context.newPage()
    const pageB = await b.context.newPage()
    await signIn(pageA, base, { next: '/account' })
    await signIn(pageB, base, { next: '/account' })

    await pageA.getByTestId('sign-out-everywhere').click()
    await pageA.getByTestId('confirm-sign-out-everywhere').click()
    await pageA.waitForURL(`${base}/`)

    assert.equal((await serverSession(b.context, base)).status, 401)
    await pageB.reload()
    await pageB.getByTestId('signin-required').waitFor()
    await a.context.close()
    await b.context.close()
  })
})

describe('usable on a 360 px phone and with the keyboard alone', () => {
  /** Press Tab until the element with `testId` has focus (bounded), as a keyboard user would. */
  async function tabTo(page, testId) {
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press('Tab')
      if ((await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))) === testId) return
    }
    assert.fail(`could not reach ${testId} with Tab`)
  }

  it('signs in with the keyboard only', async () => {
    const { context } = await walletContext(browser, { privateKey: MEMBER_KEY })
    const page = await context.newPage()
    await page.goto(base)
    await page.getByTestId('cta-signin').waitFor()
    await tabTo(page, 'header-signin')
    await page.keyboard.press('Enter')
    await page.waitForURL(`${base}/signin`)
    await tabTo(page, 'connect-wallet')
    await page.keyboard.press('Enter')
    await page.getByTestId('signin-account').waitFor()
    await tabTo(page, 'sign-in')
    await page.keyboard.press('Enter')
    await page.waitForURL(`${base}/notifications`)
    await tabTo(page, 'nav-account')
    await page.keyboard.press('Enter')
    await page.waitForURL(`${base}/account`)
    await page.getByTestId('account-wallet').waitFor()
    await context.close()
  })

  it('never scrolls sideways at 360 px', async () => {
    const { context } = await walletContext(browser, { privateKey: ADMIN_KEY, viewport: { width: 360, height: 740 } })
    const page = await context.newPage()
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    await page.goto(base)
    await page.getByTestId('cta-signin').waitFor()
    assert.equal(await overflow(), 0, 'landing')
    await signIn(page, base)
    await page.locator('[data-testid="notifications-empty"], [data-testid="notification-list"]').first().waitFor()
    assert.equal(await overflow(), 0, 'notifications')
    for (const [path, testId] of [
      ['/account', 'account-wallet'],
      ['/status', 'jobs-card'],
      ['/signin', 'signin-done'],
    ]) {
      await page.goto(`${base}${path}`)
      await page.getByTestId(testId).waitFor()
      assert.equal(await overflow(), 0, path)
    }
    await context.close()
  })
})
