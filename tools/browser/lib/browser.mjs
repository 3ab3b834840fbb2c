// Headless Debian Chromium driven by playwright-core, and an injected EIP-1193 wallet whose
// signatures come from a real private key (viem) through an exposed function.
import { mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { privateKeyToAccount } from 'viem/accounts'

export const artifactsDir = resolve(dirname(fileURLToPath(import.meta.url)), '../artifacts')

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS })
}

// Well-known development keys (anvil/hardhat accounts 0 and 1); never used for real funds.
export const ADMIN_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80'
export const MEMBER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'

/** Runs in the page before any app script: a minimal injected wallet (EIP-1193). */
function installWallet({ address, chainId }) {
  const listeners = new Map()
  const emit = (event, value) => (listeners.get(event) ?? []).forEach((fn) => fn(value))
  // Like a wallet that has not authorised this site yet: no account until eth_requestAccounts.
  const control = { address, chainId, connected: false, rejectNextSignature: false, requests: [] }
  window.__qdWallet = control
  const rpcError = (code, message) => Object.assign(new Error(message), { code })
  window.ethereum = {
    isQuickDappTestWallet: true,
    async request({ method, params }) {
      control.requests.push(method)
      switch (method) {
        case 'eth_requestAccounts':
          control.connected = true
          return [control.address]
        case 'eth_accounts':
          return control.connected ? [control.address] : []
        case 'eth_chainId':
          return control.chainId
        case 'personal_sign': {
          if (control.rejectNextSignature) {
            control.rejectNextSignature = false
            throw rpcError(4001, 'User rejected the request.')
          }
          const [messageHex, signer] = params
          return window.__qdSign(messageHex, signer)
        }
        case 'wallet_switchEthereumChain': {
          control.chainId = params[0].chainId
          emit('chainChanged', control.chainId)
          return null
        }
        default:
          throw rpcError(4200, `unsupported method ${method}`)
      }
    },
    on(event, fn) {
      listeners.set(event, [...(listeners.get(event) ?? []), fn])
    },
    removeListener(event, fn) {
      listeners.set(event, (listeners.get(event) ?? []).filter((f) => f !== fn))
    },
  }
}

/**
 * A browser context whose pages have `window.ethereum` backed by `privateKey`.
 * @param {import('playwright-core').Browser} browser
 */
export async function walletContext(browser, { privateKey = ADMIN_KEY, chainId = '0x1', viewport = { width: 1280, height: 900 }, ...options } = {}) {
  const account = privateKeyToAccount(privateKey)
  const context = await browser.newContext({ viewport, colorScheme: 'light', ...options })
  await context.exposeFunction('__qdSign', async (messageHex, signer) => {
    if (signer.toLowerCase() !== account.address.toLowerCase()) throw new Error(`asked to sign for ${signer}`)
    return account.signMessage({ message: { raw: messageHex } })
  })
  await context.addInitScript(installWallet, { address: account.address, chainId })
  return { context, account }
}

export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true })
  const path = join(artifactsDir, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** Screenshots of the current page at 1280 px and 375 px wide. */
export async function screenshotBoth(page, name) {
  const original = page.viewportSize()
  await page.setViewportSize({ width: 1280, height: 900 })
  await screenshot(page, `${name}-1280`)
  await page.setViewportSize({ width: 375, height: 812 })
  await screenshot(page, `${name}-375`)
  if (original) await page.setViewportSize(original)
}

/** Collects console errors and CSP violations so a test can assert there were none. */
export function watchPageErrors(page) {
  const errors = []
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`)
  })
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`))
  return errors
}
