/**
 * Sign-In with Ethereum (EIP-4361) message construction. The server parses
 * messages strictly (line by line, EIP-55 address, alphanumeric nonce,
 * RFC 3339 times), so the text built here must follow the ABNF exactly.
 */
import { bytesToHex, keccak256 } from './keccak'

export interface SiweFields {
  /** `host[:port]` of the site asking for the signature (`location.host`). */
  domain: string
  /** The signing account; any capitalisation, it is checksummed here. */
  address: string
  /** One line of human-readable text; omitted when empty. */
  statement?: string
  /** RFC 3986 URI the sign-in is for (`location.origin`). */
  uri: string
  chainId: number
  nonce: string
  /** RFC 3339 time; defaults to now. */
  issuedAt?: string
  expirationTime?: string
  notBefore?: string
  requestId?: string
  resources?: string[]
}

export class SiweInputError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SiweInputError'
  }
}

const ADDRESS_RE = /^0x[0-9a-fA-F]{40}$/
const NONCE_RE = /^[A-Za-z0-9]{8,}$/
const STATEMENT_RE = /^[A-Za-z0-9 \-._~:/?#[\]@!$&'()*+,;=]*$/
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

export function isAddress(value: string): boolean {
  return ADDRESS_RE.test(value)
}

/** EIP-55 mixed-case checksum encoding of a 20-byte hex address. */
export function toChecksumAddress(address: string): string {
  if (!isAddress(address)) throw new SiweInputError(`not an Ethereum address: ${address}`)
  const lower = address.slice(2).toLowerCase()
  const hash = bytesToHex(keccak256(new TextEncoder().encode(lower)))
  let out = '0x'
  for (let i = 0; i < lower.length; i++) {
    const char = lower[i]!
    out += parseInt(hash[i]!, 16) >= 8 ? char.toUpperCase() : char
  }
  return out
}

/** `0x`-prefixed hex of the UTF-8 bytes of `text` (what `personal_sign` expects). */
export function utf8ToHex(text: string): string {
  return `0x${bytesToHex(new TextEncoder().encode(text))}`
}

function checkTime(name: string, value: string | undefined): void {
  if (value !== undefined && !RFC3339_RE.test(value)) {
    throw new SiweInputError(`${name} must be an RFC 3339 time, got ${JSON.stringify(value)}`)
  }
}

/** The exact EIP-4361 text to sign. Throws `SiweInputError` on invalid fields. */
export function buildSiweMessage(fields: SiweFields): string {
  const issuedAt = fields.issuedAt ?? new Date().toISOString()
  if (!fields.domain || /[\s/@]/.test(fields.domain)) {
    throw new SiweInputError(`invalid domain: ${JSON.stringify(fields.domain)}`)
  }
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(fields.uri)) {
    throw new SiweInputError(`invalid URI: ${JSON.stringify(fields.uri)}`)
  }
  if (!Number.isSafeInteger(fields.chainId) || fields.chainId < 1) {
    throw new SiweInputError(`invalid chain id: ${fields.chainId}`)
  }
  if (!NONCE_RE.test(fields.nonce)) {
    throw new SiweInputError('the nonce must be at least 8 letters or digits')
  }
  const statement = fields.statement ?? ''
  if (!STATEMENT_RE.test(statement)) {
    throw new SiweInputError('the statement may only hold URI characters and spaces, on one line')
  }
  checkTime('issuedAt', issuedAt)
  checkTime('expirationTime', fields.expirationTime)
  checkTime('notBefore', fields.notBefore)
  if (fields.requestId !== undefined && !/^[A-Za-z0-9\-._~!$&'()*+,;=:@%]*$/.test(fields.requestId)) {
    throw new SiweInputError('invalid request id')
  }

  const lines = [
    `${fields.domain} wants you to sign in with your Ethereum account:`,
    toChecksumAddress(fields.address),
    '',
  ]
  if (statement) lines.push(statement, '')
  lines.push(
    `URI: ${fields.uri}`,
    'Version: 1',
    `Chain ID: ${fields.chainId}`,
    `Nonce: ${fields.nonce}`,
    `Issued At: ${issuedAt}`,
  )
  if (fields.expirationTime) lines.push(`Expiration Time: ${fields.expirationTime}`)
  if (fields.notBefore) lines.push(`Not Before: ${fields.notBefore}`)
  if (fields.requestId !== undefined) lines.push(`Request ID: ${fields.requestId}`)
  if (fields.resources && fields.resources.length > 0) {
    lines.push('Resources:')
    for (const resource of fields.resources) {
      if (/\s/.test(resource) || !resource) throw new SiweInputError(`invalid resource: ${resource}`)
      lines.push(`- ${resource}`)
    }
  }
  return lines.join('\n')
}
