import { describe, expect, it } from 'vitest'
import { bytesToHex, keccak256 } from './keccak'
import { buildSiweMessage, SiweInputError, toChecksumAddress, utf8ToHex } from './siwe'

const enc = (s: string) => new TextEncoder().encode(s)

describe('keccak256', () => {
  it('matches the known digests', () => {
    expect(bytesToHex(keccak256(enc('')))).toBe('c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
    expect(bytesToHex(keccak256(enc('abc')))).toBe('4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45')
    // Longer than one 136-byte block.
    expect(bytesToHex(keccak256(enc('a'.repeat(200))))).toBe('96ea54061def936c4be90b518992fdc6f12f535068a256229aca54267b4d084d')
  })

  it('handles inputs around the block size', () => {
    // Digests of 135, 136 and 137 zero bytes (reference values from viem's keccak256).
    expect([135, 136, 137].map((n) => bytesToHex(keccak256(new Uint8Array(n))))).toEqual([
      '29e3704feeca7fb9ba229f0fa04d9b36449cf3ad6e1d85d9cfff3a10df9abc3e',
      '3a5912a7c5faa06ee4fe906253e339467a9ce87d533c65be3c15cb231cdb25f9',
      'bee7fbb405cb0d91a8775e338c4a5e4b5d6b2d051f687fa942043cffdc73bd28',
    ])
  })
})

describe('toChecksumAddress (EIP-55)', () => {
  // Test vectors from EIP-55.
  const vectors = [
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
    '0x52908400098527886E0F7030069857D2E4169EE7',
    '0xde709f2102306220921060314715629080e2fb77',
  ]
  it.each(vectors)('%s', (address) => {
    expect(toChecksumAddress(address.toLowerCase())).toBe(address)
    expect(toChecksumAddress(address.toUpperCase().replace('0X', '0x'))).toBe(address)
  })

  it('rejects non-addresses', () => {
    expect(() => toChecksumAddress('0x1234')).toThrow(SiweInputError)
  })
})

describe('buildSiweMessage', () => {
  const base = {
    domain: 'localhost:3000',
    address: '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed',
    statement: 'Sign in to QuickDapp.',
    uri: 'http://localhost:3000',
    chainId: 1,
    nonce: 'abcDEF123456',
    issuedAt: '2025-01-02T03:04:05.678Z',
  }

  it('writes the exact EIP-4361 text', () => {
    expect(buildSiweMessage(base)).toBe(
      [
        'localhost:3000 wants you to sign in with your Ethereum account:',
        '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
        '',
        'Sign in to QuickDapp.',
        '',
        'URI: http://localhost:3000',
        'Version: 1',
        'Chain ID: 1',
        'Nonce: abcDEF123456',
        'Issued At: 2025-01-02T03:04:05.678Z',
      ].join('\n'),
    )
  })

  it('omits the statement block when there is none, and appends optional fields in order', () => {
    const text = buildSiweMessage({
      ...base,
      statement: undefined,
      chainId: 31337,
      expirationTime: '2025-01-02T04:04:05Z',
      notBefore: '2025-01-02T03:00:00+01:00',
      requestId: 'req-1',
      resources: ['https://example.com/a', 'ipfs://bafy'],
    })
    expect(text.split('\n')).toEqual([
      'localhost:3000 wants you to sign in with your Ethereum account:',
      '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
      '',
      'URI: http://localhost:3000',
      'Version: 1',
      'Chain ID: 31337',
      'Nonce: abcDEF123456',
      'Issued At: 2025-01-02T03:04:05.678Z',
      'Expiration Time: 2025-01-02T04:04:05Z',
      'Not Before: 2025-01-02T03:00:00+01:00',
      'Request ID: req-1',
      'Resources:',
      '- https://example.com/a',
      '- ipfs://bafy',
    ])
    expect(text.endsWith('\n')).toBe(false)
  })

  it('defaults issued-at to now', () => {
    const text = buildSiweMessage({ ...base, issuedAt: undefined })
    const issued = /Issued At: (.*)$/m.exec(text)?.[1] ?? ''
    expect(Math.abs(Date.parse(issued) - Date.now())).toBeLessThan(5000)
  })

  it.each([
    ['a short nonce', { nonce: 'abc' }],
    ['a nonce with symbols', { nonce: 'abc-def-123' }],
    ['a multi-line statement', { statement: 'one\ntwo' }],
    ['a domain with a path', { domain: 'example.com/x' }],
    ['a zero chain id', { chainId: 0 }],
    ['a bad time', { issuedAt: 'yesterday' }],
    ['a bad address', { address: '0xnope' }],
  ])('rejects %s', (_name, override) => {
    expect(() => buildSiweMessage({ ...base, ...override })).toThrow(SiweInputError)
  })
})

describe('utf8ToHex', () => {
  it('hex-encodes UTF-8 bytes', () => {
    expect(utf8ToHex('hi')).toBe('0x6869')
    expect(utf8ToHex('é')).toBe('0xc3a9')
  })
})
