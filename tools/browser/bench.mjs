// Measures the web UI: the compressed size of what the landing route loads (from web/dist,
// as embedded in the binary), and time to interactive of the landing page in headless
// Chromium against the real binary. Prints a Markdown summary and writes artifacts/bench.json.
//
//   node bench.mjs [runs=9]
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { artifactsDir, CHROMIUM_PATH, launchBrowser } from './lib/browser.mjs'
import { initialRouteAssets } from './lib/bundle.mjs'
import { QuickdappServer } from './lib/server.mjs'

const runs = Number(process.argv[2] ?? 9)
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Runs in the page before the app: notes when the sign-in button exists, and long tasks. */
function instrument() {
  window.__qdBench = { ctaAt: null, longTasks: [] }
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__qdBench.longTasks.push([entry.startTime, entry.startTime + entry.duration])
  }).observe({ type: 'longtask', buffered: true })
  const check = () => {
    if (window.__qdBench.ctaAt === null && document.querySelector('[data-testid="cta-signin"]')) {
      window.__qdBench.ctaAt = performance.now()
    }
  }
  new MutationObserver(check).observe(document, { childList: true, subtree: true })
}

async function measureOnce(browser, url, cpuSlowdown) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true })
  if (cpuSlowdown > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: cpuSlowdown })
  await page.addInitScript(instrument)
  await page.goto(url, { waitUntil: 'load' })
  await page.getByTestId('cta-signin').waitFor()
  // TTI needs a quiet window after the last long task (Lighthouse uses 5 s); measure it.
  await page.waitForTimeout(5000)
  const result = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0]
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null
    const { ctaAt, longTasks } = window.__qdBench
    const transferred = performance
      .getEntriesByType('resource')
      .concat([nav])
      .reduce((sum, entry) => sum + (entry.transferSize ?? 0), 0)
    return { dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, fcp, ctaAt, longTasks, transferred }
  })
  await context.close()
  const lastLongTaskEnd = result.longTasks.reduce((max, [, end]) => Math.max(max, end), 0)
  const tti = Math.max(result.fcp ?? 0, result.dcl, result.ctaAt ?? 0, lastLongTaskEnd)
  return { ...result, tti }
}

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`

async function main() {
  const assets = initialRouteAssets()
  const total = assets.reduce((acc, a) => ({ raw: acc.raw + a.raw, gzip: acc.gzip + a.gzip, brotli: acc.brotli + a.brotli }), { raw: 0, gzip: 0, brotli: 0 })

  const server = new QuickdappServer()
  await server.start()
  const browser = await launchBrowser()
  const version = browser.version()
  const timings = {}
  try {
    for (const slowdown of [1, 4]) {
      await measureOnce(browser, server.url, slowdown) // warm the server, not the browser cache
      const samples = []
      for (let i = 0; i < runs; i++) samples.push(await measureOnce(browser, server.url, slowdown))
      timings[`cpu${slowdown}x`] = {
        runs,
        medianMs: {
          fcp: Math.round(median(samples.map((s) => s.fcp ?? NaN))),
          domContentLoaded: Math.round(median(samples.map((s) => s.dcl))),
          appInteractive: Math.round(median(samples.map((s) => s.ctaAt))),
          tti: Math.round(median(samples.map((s) => s.tti))),
        },
        maxTtiMs: Math.round(Math.max(...samples.map((s) => s.tti))),
        transferredBytes: median(samples.map((s) => s.transferred)),
      }
    }
  } finally {
    await browser.close()
    await server.dispose()
  }

  const report = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
    browser: `${CHROMIUM_PATH} (Chromium ${version}), headless`,
    node: process.version,
    assets,
    total,
    timings,
  }
  mkdirSync(artifactsDir, { recursive: true })
  writeFileSync(join(artifactsDir, 'bench.json'), `${JSON.stringify(report, null, 2)}\n`)

  console.log(`\nInitial route (landing): ${assets.length} files`)
  console.log('| file | raw | gzip | brotli |\n| --- | ---: | ---: | ---: |')
  for (const a of assets) console.log(`| ${a.path} | ${kb(a.raw)} | ${kb(a.gzip)} | ${kb(a.brotli)} |`)
  console.log(`| **total** | ${kb(total.raw)} | **${kb(total.gzip)}** | ${kb(total.brotli)} |`)
  console.log(`\nLanding page, ${runs} cold loads each (cache disabled), ${report.browser}, ${report.machine}:`)
  console.log('| CPU | FCP | DOMContentLoaded | sign-in button rendered | TTI (median) | TTI (max) | transferred |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const [name, t] of Object.entries(timings)) {
    const m = t.medianMs
    console.log(`| ${name.replace('cpu', '').replace('x', '×')} | ${m.fcp} ms | ${m.domContentLoaded} ms | ${m.appInteractive} ms | ${m.tti} ms | ${t.maxTtiMs} ms | ${kb(t.transferredBytes)} |`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main()
}
