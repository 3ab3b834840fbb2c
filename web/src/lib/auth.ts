/** The server's `/auth/*` endpoints (cookie mode) and what their errors mean to a person. */
import { ApiError, requestJson } from './http'
import { isAddress, toChecksumAddress } from './siwe'

export interface User {
  id: number
  wallet: string
  isAdmin: boolean
}

export interface SessionInfo {
  user: User
  session: { id: string; createdAt: string; expiresAt: string }
}

export interface SignInResult {
  expiresAt: string
  refreshExpiresAt: string
  csrfToken: string
  user: User
}

export function getNonce(): Promise<{ nonce: string; expiresAt: string }> {
  return requestJson('/auth/nonce', { refresh: false })
}

export function signInWithSiwe(message: string, signature: string): Promise<SignInResult> {
  return requestJson('/auth/siwe', {
    method: 'POST',
    body: { message, signature, mode: 'cookie' },
    refresh: false,
  })
}

/** The current session, or `null` when signed out (after trying a refresh). */
export async function fetchSession(): Promise<SessionInfo | null> {
  try {
    const info = await requestJson<SessionInfo>('/auth/session')
    // The server stores wallets in lowercase; people read them checksummed (EIP-55).
    const wallet = isAddress(info.user.wallet) ? toChecksumAddress(info.user.wallet) : info.user.wallet
    return { ...info, user: { ...info.user, wallet } }
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null
    throw err
  }
}

export async function logout(everywhere: boolean): Promise<void> {
  try {
    await requestJson(everywhere ? '/auth/logout-all' : '/auth/logout', { method: 'POST' })
  } catch (err) {
    // Already signed out server-side: the outcome the user asked for.
    if (err instanceof ApiError && err.status === 401) return
    throw err
  }
}

/** A sentence for the person signing in, for each `auth.*` code the server sends. */
export function describeAuthError(err: ApiError, chainNames: (ids: number[]) => string, chainIds: number[]): string {
  switch (err.code) {
    case 'auth.nonce_reused':
    case 'auth.nonce_expired':
    case 'auth.nonce_unknown':
      return 'This sign-in request has expired or was already used. Please sign in again.'
    case 'auth.signature_mismatch':
    case 'auth.malformed_signature':
    case 'auth.signature_bad_v':
    case 'auth.signature_high_s':
      return 'The signature does not match the connected account. Check that your wallet signed with the account shown, then try again.'
    case 'auth.chain_not_allowed':
      return `Sign-in is not available on this network. Switch your wallet to ${chainNames(chainIds)}.`
    case 'auth.domain_mismatch':
    case 'auth.uri_mismatch':
      return 'The sign-in message names a different site than the server expects. Open the app at its official address and try again.'
    case 'auth.issued_in_future':
    case 'auth.message_expired':
    case 'auth.message_not_yet_valid':
      return 'The sign-in message was rejected as out of date. Check that your device clock is correct, then try again.'
    case 'auth.malformed_message':
    case 'auth.message_too_large':
      return 'Your wallet changed the sign-in message, so the server could not read it. Try again or use another wallet.'
    case 'auth.account_disabled':
      return 'This account has been disabled. Contact the site operator if you think this is a mistake.'
    case 'auth.rate_limited':
      return `Too many sign-in attempts. Wait ${err.retryAfter ?? 60} seconds and try again.`
    case 'auth.chain_unavailable':
      return 'Your smart-contract wallet could not be verified because the blockchain node is unreachable. Try again in a moment.'
    default:
      return err.status >= 500
        ? 'The server had a problem signing you in. Try again in a moment.'
        : err.message || 'Sign-in failed.'
  }
}
