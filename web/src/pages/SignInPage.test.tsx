import { QueryClientProvider } from '@tanstack/react-query'
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ToastProvider } from '../components/Toaster'
import { AuthProvider } from '../hooks/auth'
import { createQueryClient } from '../lib/queryClient'
import type { Eip1193Provider } from '../lib/wallet'
import { SignInPage } from './SignInPage'

const ADDRESS = '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed'
const CHECKSUMMED = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

interface Server {
  signedIn: boolean
  siweAnswer: () => Response
  posted: Array<{ message: string; signature: string; mode: string }>
}

let server: Server

function fakeFetch() {
  return vi.fn(async (url: string, init: RequestInit = {}) => {
    if (url === '/api/config') {
      return json(200, { appName: 'QuickDapp', version: '1', appMode: 'test', baseUrl: 'http://localhost:3000', chainIds: [1, 31337], defaultChainId: 1 })
    }
    if (url === '/auth/session') {
      return server.signedIn
        ? json(200, { user: { id: 1, wallet: CHECKSUMMED, isAdmin: false }, session: { id: 's', createdAt: '2025-01-01T00:00:00Z', expiresAt: '2025-02-01T00:00:00Z' } })
        : json(401, { error: { code: 'auth.missing_token', message: 'no credentials' } })
    }
    if (url === '/auth/nonce') return json(200, { nonce: 'abcdefgh12345678', expiresAt: '2099-01-01T00:00:00Z' })
    if (url === '/auth/siwe') {
      server.posted.push(JSON.parse(init.body as string))
      return server.siweAnswer()
    }
    throw new TypeError(`unexpected fetch ${url}`)
  })
}

function wallet(overrides: Partial<Record<string, (params: unknown) => unknown>> = {}) {
  const state = { chainId: '0x1' }
  const calls: string[] = []
  const handlers: Record<string, (params: unknown) => unknown> = {
    eth_accounts: () => [],
    eth_requestAccounts: () => [ADDRESS],
    eth_chainId: () => state.chainId,
    personal_sign: () => `0x${'11'.repeat(65)}`,
    wallet_switchEthereumChain: (params) => {
      state.chainId = (params as Array<{ chainId: string }>)[0]!.chainId
      return null
    },
    ...overrides,
  }
  const provider: Eip1193Provider = {
    request: async ({ method, params }) => {
      calls.push(method)
      const handler = handlers[method]
      if (!handler) throw Object.assign(new Error('unsupported'), { code: 4200 })
      return handler(params)
    },
  }
  return { provider, state, calls }
}

function renderPage() {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <ToastProvider>
        <AuthProvider>
          <SignInPage />
        </AuthProvider>
      </ToastProvider>
    </QueryClientProvider>,
  )
}

async function connectAndSign() {
  fireEvent.click(await screen.findByTestId('connect-wallet'))
  await screen.findByTestId('signin-account')
  fireEvent.click(screen.getByTestId('sign-in'))
}

beforeEach(() => {
  server = { signedIn: false, siweAnswer: () => json(200, {}), posted: [] }
  vi.stubGlobal('fetch', fakeFetch())
  window.history.replaceState(null, '', '/signin?next=/account')
})

afterEach(() => {
  cleanup()
  delete window.ethereum
  vi.unstubAllGlobals()
})

describe('SignInPage', () => {
  it('explains when there is no wallet', async () => {
    renderPage()
    expect(await screen.findByTestId('signin-no-wallet')).toHaveProperty('textContent', expect.stringContaining('No wallet found'))
  })

  it('signs a correct EIP-4361 message and continues to the next page', async () => {
    const w = wallet()
    window.ethereum = w.provider
    server.siweAnswer = () => {
      server.signedIn = true
      return json(200, { expiresAt: 'x', refreshExpiresAt: 'y', csrfToken: 'z', user: { id: 1, wallet: CHECKSUMMED, isAdmin: false } })
    }
    renderPage()
    await connectAndSign()
    await waitFor(() => expect(window.location.pathname).toBe('/account'))
    expect(server.posted).toHaveLength(1)
    const { message, signature, mode } = server.posted[0]!
    expect(mode).toBe('cookie')
    expect(signature).toBe(`0x${'11'.repeat(65)}`)
    const lines = message.split('\n')
    expect(lines[0]).toBe('localhost:3000 wants you to sign in with your Ethereum account:')
    expect(lines[1]).toBe(CHECKSUMMED)
    expect(lines).toContain('URI: http://localhost:3000')
    expect(lines).toContain('Chain ID: 1')
    expect(lines).toContain('Nonce: abcdefgh12345678')
    expect(w.calls).toEqual(expect.arrayContaining(['eth_requestAccounts', 'eth_chainId', 'personal_sign']))
  })

  it('says so when the signature request is rejected (4001)', async () => {
    window.ethereum = wallet({
      personal_sign: () => {
        throw Object.assign(new Error('User rejected the request.'), { code: 4001 })
      },
    }).provider
    renderPage()
    await connectAndSign()
    const error = await screen.findByTestId('signin-error')
    expect(error.dataset.code).toBe('wallet.rejected')
    expect(error.textContent).toContain('Request rejected')
    expect(server.posted).toHaveLength(0)
  })

  it('offers to switch networks when the wallet is on a chain the server does not accept', async () => {
    const w = wallet()
    w.state.chainId = '0x89' // Polygon
    window.ethereum = w.provider
    renderPage()
    fireEvent.click(await screen.findByTestId('connect-wallet'))
    const warning = await screen.findByTestId('signin-wrong-chain')
    expect(warning.textContent).toContain('Polygon')
    expect(screen.queryByTestId('sign-in')).toBeNull()
    fireEvent.click(screen.getByTestId('switch-chain'))
    await screen.findByTestId('sign-in')
    expect(w.state.chainId).toBe('0x1')
    expect(screen.getByTestId('signin-chain').dataset.chainId).toBe('1')
  })

  it.each([
    ['auth.nonce_reused', 401, 'expired or was already used'],
    ['auth.signature_mismatch', 401, 'does not match'],
    ['auth.chain_not_allowed', 401, 'Switch your wallet to Ethereum or'],
    ['auth.domain_mismatch', 401, 'different site'],
    ['auth.account_disabled', 403, 'disabled'],
    ['auth.rate_limited', 429, 'Too many sign-in attempts'],
    ['auth.chain_unavailable', 503, 'blockchain node is unreachable'],
  ])('explains the server error %s', async (code, status, text) => {
    window.ethereum = wallet().provider
    server.siweAnswer = () => json(status, { error: { code, message: 'server says no' } })
    renderPage()
    await connectAndSign()
    const error = await screen.findByTestId('signin-error')
    expect(error.dataset.code).toBe(code)
    expect(error.textContent).toContain(text)
  })
})
