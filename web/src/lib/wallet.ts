/**
 * The injected wallet, spoken to directly through EIP-1193 (`window.ethereum`).
 * No wallet library: the few calls sign-in needs are plain JSON-RPC requests.
 */
import { isAddress, toChecksumAddress, utf8ToHex } from './siwe'

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown>
  on?(event: string, listener: (...args: unknown[]) => void): void
  removeListener?(event: string, listener: (...args: unknown[]) => void): void
}

declare global {
  interface Window {
    ethereum?: Eip1193Provider
  }
}

export function getInjectedProvider(): Eip1193Provider | null {
  if (typeof window === 'undefined') return null
  const provider = window.ethereum
  return provider && typeof provider.request === 'function' ? provider : null
}

export type WalletErrorKind = 'no_wallet' | 'rejected' | 'pending' | 'unknown_chain' | 'no_account' | 'failed'

export class WalletError extends Error {
  readonly kind: WalletErrorKind
  constructor(kind: WalletErrorKind, message: string) {
    super(message)
    this.name = 'WalletError'
    this.kind = kind
  }
}

function rpcCode(err: unknown): number | null {
  if (typeof err !== 'object' || err === null) return null
  const code = (err as { code?: unknown }).code
  if (typeof code === 'number') return code
  // Some wallets wrap the provider error.
  const cause = (err as { data?: { originalError?: { code?: unknown } } }).data?.originalError?.code
  return typeof cause === 'number' ? cause : null
}

/** Map an EIP-1193 / JSON-RPC error to something the UI can explain. */
export function toWalletError(err: unknown): WalletError {
  if (err instanceof WalletError) return err
  const code = rpcCode(err)
  const message = err instanceof Error ? err.message : typeof err === 'object' && err && 'message' in err ? String((err as { message: unknown }).message) : String(err)
  switch (code) {
    case 4001:
      return new WalletError('rejected', 'You rejected the request in your wallet.')
    case -32002:
      return new WalletError('pending', 'Your wallet already has a request waiting. Open your wallet to answer it.')
    case 4902:
      return new WalletError('unknown_chain', 'Your wallet does not know this network yet. Add it in your wallet, then try again.')
    default:
      return new WalletError('failed', message || 'The wallet request failed.')
  }
}

async function call(provider: Eip1193Provider, method: string, params?: unknown[]): Promise<unknown> {
  try {
    return await provider.request(params ? { method, params } : { method })
  } catch (err) {
    throw toWalletError(err)
  }
}

function firstAccount(result: unknown): string | null {
  if (!Array.isArray(result)) return null
  const account = result.find((a): a is string => typeof a === 'string' && isAddress(a))
  return account ? toChecksumAddress(account) : null
}

/** Ask the wallet to connect; returns the checksummed account. */
export async function requestAccount(provider: Eip1193Provider): Promise<string> {
  const account = firstAccount(await call(provider, 'eth_requestAccounts'))
  if (!account) throw new WalletError('no_account', 'Your wallet did not share an account. Unlock it and try again.')
  return account
}

/** The already-connected account, without prompting; `null` if none. */
export async function currentAccount(provider: Eip1193Provider): Promise<string | null> {
  try {
    return firstAccount(await provider.request({ method: 'eth_accounts' }))
  } catch {
    return null
  }
}

export function parseChainId(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value
  if (typeof value === 'string') {
    const n = value.startsWith('0x') ? Number.parseInt(value, 16) : Number(value)
    return Number.isSafeInteger(n) && n > 0 ? n : null
  }
  return null
}

export async function readChainId(provider: Eip1193Provider): Promise<number> {
  const id = parseChainId(await call(provider, 'eth_chainId'))
  if (id === null) throw new WalletError('failed', 'Your wallet reported an unreadable network id.')
  return id
}

export async function switchChain(provider: Eip1193Provider, chainId: number): Promise<void> {
  await call(provider, 'wallet_switchEthereumChain', [{ chainId: `0x${chainId.toString(16)}` }])
}

/** EIP-191 `personal_sign` of a UTF-8 message; returns the 65-byte hex signature. */
export async function personalSign(provider: Eip1193Provider, message: string, address: string): Promise<string> {
  const signature = await call(provider, 'personal_sign', [utf8ToHex(message), address])
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]+$/.test(signature)) {
    throw new WalletError('failed', 'Your wallet returned an unreadable signature.')
  }
  return signature
}

const CHAIN_NAMES: Record<number, string> = {
  1: 'Ethereum',
  10: 'Optimism',
  137: 'Polygon',
  8453: 'Base',
  42161: 'Arbitrum One',
  11155111: 'Sepolia',
  31337: 'Local dev chain (31337)',
}

export function chainName(id: number): string {
  return CHAIN_NAMES[id] ?? `chain ${id}`
}

/** "Ethereum or Local dev chain (31337)". */
export function chainList(ids: number[]): string {
  const names = ids.map(chainName)
  if (names.length <= 1) return names[0] ?? 'a supported network'
  return `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`
}

export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address
}
