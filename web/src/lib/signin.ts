/** The whole SIWE sign-in: server nonce -> EIP-4361 message -> `personal_sign` -> `/auth/siwe`. */
import { getNonce, signInWithSiwe, type SignInResult } from './auth'
import { buildSiweMessage } from './siwe'
import { personalSign, type Eip1193Provider } from './wallet'

export interface SignInParams {
  provider: Eip1193Provider
  address: string
  chainId: number
  appName: string
  /** Defaults to `window.location`. */
  location?: Pick<Location, 'host' | 'origin'>
  now?: () => Date
}

export async function signInWithWallet(params: SignInParams): Promise<SignInResult> {
  const location = params.location ?? window.location
  const { nonce } = await getNonce()
  const message = buildSiweMessage({
    domain: location.host,
    address: params.address,
    statement: `Sign in to ${params.appName.replace(/[^A-Za-z0-9 \-._~]/g, '')}.`,
    uri: location.origin,
    chainId: params.chainId,
    nonce,
    issuedAt: (params.now?.() ?? new Date()).toISOString(),
  })
  const signature = await personalSign(params.provider, message, params.address)
  return signInWithSiwe(message, signature)
}
