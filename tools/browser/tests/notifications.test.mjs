// Live notifications in the browser: created server-side (GraphQL, as the admin), they arrive
// without a reload (toast, badge, list); after the server is killed and restarted on the same
// database and port the page reconnects and shows what it missed; mark-read updates the badge.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { graphqlAs, serverSession, signIn, unexpectedErrors, waitForText } from '../lib/app.mjs'
import { ADMIN_KEY, launchBrowser, MEMBER_KEY, screenshotBoth, walletContext, watchPageErrors } from '../lib/browser.mjs'
import { QuickdappServer } from '../lib/server.mjs'

const admin = privateKeyToAccount(ADMIN_KEY)

const CREATE = `mutation Create($userId: PositiveInt!, $data: JSON!) {
  createNotification(userId: $userId, data: $data) { id seq userId read }
}`

let server
let browser
let base
/** The admin's context: used to create notifications for the member. */
let adminContext
/** The member's context and page, kept across the tests of this file. */
let memberContext
let page
let memberId
let errors

const notify = (data) => graphqlAs(adminContext, base, CREATE, { userId: memberId, data })
const liveStatus = (status) => page.locator(`[data-testid="live-status"][data-status="${status}"]`).waitFor()
const item = (title) => page.getByTestId('notification-item').filter({ has: page.getByTestId('notification-title').filter({ hasText: title }) })

before(async () => {
  server = new QuickdappServer({ env: { ADMIN_WALLETS: admin.address } })
  await server.start()
  base = server.url
  browser = await launchBrowser()

  adminContext = (await walletContext(browser, { privateKey: ADMIN_KEY })).context
  await signIn(await adminContext.newPage(), base, { next: '/account' })

  memberContext = (await walletContext(browser, { privateKey: MEMBER_KEY })).context
  page = await memberContext.newPage()
  errors = watchPageErrors(page)
  await signIn(page, base)
  memberId = (await serverSession(memberContext, base)).body.user.id
})

after(async () => {
  await browser?.close()
  await server?.dispose()
})

describe('notifications', () => {
  it('starts empty, with the live connection open', async () => {
    await page.getByTestId('notifications-empty').waitFor()
    await liveStatus('open')
    await waitForText(page, 'unread-summary', 'All caught up')
    assert.equal(await page.getByTestId('unread-badge').count(), 0)
    await screenshotBoth(page, 'notifications-empty')
  })

  it('shows a notification created server-side at once: toast, badge and list, no reload', async () => {
    const navigations = []
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations.push(frame.url())
    })
    await notify({ title: 'Deposit received', message: 'You received 1.5 ETH.' })
    await page.getByTestId('toast-title').filter({ hasText: 'Deposit received' }).waitFor()
    await waitForText(page, 'unread-badge', '1')
    await item('Deposit received').waitFor()
    await waitForText(page, 'unread-summary', '1 unread')
    assert.deepEqual(navigations, [], 'the page was not reloaded')
  })

  it('recovers after the server restarts and shows what it missed', async () => {
    // The page loses the server and cannot reach it while two notifications are created.
    await memberContext.setOffline(true)
    await server.restart('SIGKILL')
    await notify({ title: 'Missed one', body: 'Created while you were away.' })
    await notify({ kind: 'price-alert', pair: 'ETH/USD', above: 4000 })
    await memberContext.setOffline(false)

    await item('Missed one').waitFor()
    await page.getByTestId('notification-body').filter({ hasText: '"pair":"ETH/USD"' }).waitFor()
    await liveStatus('open')
    await waitForText(page, 'unread-badge', '3')
    // Toasts come from the socket only: the missed ones were replayed on reconnect.
    await page.getByTestId('toast-title').filter({ hasText: /^(2 new notifications|Missed one|Notification)$/ }).first().waitFor()

    // Still live after the restart.
    await notify({ title: 'After restart', message: 'Live again.' })
    await item('After restart').waitFor()
    await waitForText(page, 'unread-badge', '4')
    await screenshotBoth(page, 'notifications')
  })

  it('marks one and then all as read, and the badge follows', async () => {
    await item('Deposit received').getByTestId('mark-read').click()
    await item('Deposit received').and(page.locator('[data-read="true"]')).waitFor()
    await waitForText(page, 'unread-badge', '3')

    await page.getByTestId('mark-all-read').click()
    await page.getByTestId('unread-badge').waitFor({ state: 'detached' })
    await waitForText(page, 'unread-summary', 'All caught up')

    // The server agrees: after a reload nothing is unread.
    await page.reload()
    await page.getByTestId('notification-item').first().waitFor()
    assert.equal(await page.locator('[data-testid="notification-item"][data-read="false"]').count(), 0)
    assert.equal(await page.getByTestId('unread-badge').count(), 0)
  })

  it('pages through older notifications', async () => {
    for (let i = 1; i <= 8; i++) await notify({ title: `Batch ${i}` })
    await waitForText(page, 'unread-badge', '8')
    await waitForText(page, 'pagination-summary', '1–10 of 12')
    await page.getByTestId('page-next').click()
    await page.waitForURL(`${base}/notifications?page=2`)
    await waitForText(page, 'pagination-summary', '11–12 of 12')
    await item('Deposit received').waitFor()
    assert.equal(await page.getByTestId('notification-item').count(), 2)
    await page.getByTestId('page-prev').click()
    await item('Batch 8').waitFor()
  })

  it('logged no CSP violations or page errors', () => {
    // While the server was down the socket's failed handshakes were logged; they were retried.
    assert.deepEqual(
      unexpectedErrors(errors, { allowSocketErrors: true }).filter((line) => !/ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_REFUSED/.test(line)),
      [],
    )
  })
})
