// Budget: the landing route's JS + CSS + HTML stays under 250 KB gzip, and what the browser
// actually downloads is the precompressed build.
import assert from 'node:assert/strict'
import { after, before, it } from 'node:test'
import { initialRouteAssets } from '../lib/bundle.mjs'
import { launchBrowser } from '../lib/browser.mjs'
import { QuickdappServer } from '../lib/server.mjs'

const BUDGET_BYTES = 250 * 1000

let server
let browser
before(async () => {
  server = new QuickdappServer()
  await server.start()
  browser = await launchBrowser()
})
after(async () => {
  await browser?.close()
  await server?.dispose()
})

it('keeps the initial route under 250 KB gzip', () => {
  const assets = initialRouteAssets()
  assert.ok(assets.some((a) => a.path.endsWith('.js')), 'index.html loads a script')
  assert.ok(assets.some((a) => a.path.endsWith('.css')), 'index.html loads a stylesheet')
  const gzip = assets.reduce((sum, a) => sum + a.gzip, 0)
  assert.ok(gzip < BUDGET_BYTES, `initial route is ${gzip} bytes gzip (budget ${BUDGET_BYTES})`)
})

it('loads nothing from other hosts and gets compressed assets', async () => {
  const context = await browser.newContext()
  const page = await context.newPage()
  const foreign = []
  const encodings = new Map()
  page.on('request', (request) => {
    if (!request.url().startsWith(server.url) && !request.url().startsWith('ws://127.0.0.1')) foreign.push(request.url())
  })
  page.on('response', async (response) => {
    if (/\/assets\/.*\.(js|css)$/.test(response.url())) encodings.set(response.url(), (await response.allHeaders())['content-encoding'])
  })
  await page.goto(server.url, { waitUntil: 'load' })
  await page.getByTestId('cta-signin').waitFor()
  assert.deepEqual(foreign, [])
  assert.ok(encodings.size >= 2)
  for (const [url, encoding] of encodings) assert.ok(['br', 'gzip'].includes(encoding), `${url} sent as ${encoding}`)
  await context.close()
})
