/**
 * Keccak-256 (the pre-standard SHA-3 padding Ethereum uses), small and
 * dependency-free. Only used for EIP-55 address checksums, which hash 40
 * bytes, so BigInt lanes are fast enough and keep the code obvious.
 */

const MASK = (1n << 64n) - 1n

const ROUND_CONSTANTS = [
  0x0000000000000001n, 0x0000000000008082n, 0x800000000000808an, 0x8000000080008000n,
  0x000000000000808bn, 0x0000000080000001n, 0x8000000080008081n, 0x8000000000008009n,
  0x000000000000008an, 0x0000000000000088n, 0x0000000080008009n, 0x000000008000000an,
  0x000000008000808bn, 0x800000000000008bn, 0x8000000000008089n, 0x8000000000008003n,
  0x8000000000008002n, 0x8000000000000080n, 0x000000000000800an, 0x800000008000000an,
  0x8000000080008081n, 0x8000000000008080n, 0x0000000080000001n, 0x8000000080008008n,
]

/** Rotation offsets, indexed by x + 5y. */
const ROTATIONS = [
  0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
]

const RATE_BYTES = 136

function rotl(value: bigint, shift: number): bigint {
  if (shift === 0) return value
  const s = BigInt(shift)
  return ((value << s) | (value >> (64n - s))) & MASK
}

function permute(state: bigint[]): void {
  const c: bigint[] = new Array<bigint>(5)
  const b: bigint[] = new Array<bigint>(25)
  for (const rc of ROUND_CONSTANTS) {
    // theta
    for (let x = 0; x < 5; x++) {
      c[x] = state[x]! ^ state[x + 5]! ^ state[x + 10]! ^ state[x + 15]! ^ state[x + 20]!
    }
    for (let x = 0; x < 5; x++) {
      const d = c[(x + 4) % 5]! ^ rotl(c[(x + 1) % 5]!, 1)
      for (let y = 0; y < 25; y += 5) state[x + y] = state[x + y]! ^ d
    }
    // rho + pi
    for (let x = 0; x < 5; x++) {
      for (let y = 0; y < 5; y++) {
        b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(state[x + 5 * y]!, ROTATIONS[x + 5 * y]!)
      }
    }
    // chi
    for (let y = 0; y < 25; y += 5) {
      for (let x = 0; x < 5; x++) {
        state[x + y] = b[x + y]! ^ (~b[((x + 1) % 5) + y]! & MASK & b[((x + 2) % 5) + y]!)
      }
    }
    // iota
    state[0] = state[0]! ^ rc
  }
}

/** Keccak-256 of `data`. */
export function keccak256(data: Uint8Array): Uint8Array {
  const padded = new Uint8Array(Math.floor(data.length / RATE_BYTES + 1) * RATE_BYTES)
  padded.set(data)
  padded[data.length] = padded[data.length]! ^ 0x01
  padded[padded.length - 1] = padded[padded.length - 1]! ^ 0x80

  const state = new Array<bigint>(25).fill(0n)
  for (let offset = 0; offset < padded.length; offset += RATE_BYTES) {
    for (let lane = 0; lane < RATE_BYTES / 8; lane++) {
      let value = 0n
      for (let i = 7; i >= 0; i--) value = (value << 8n) | BigInt(padded[offset + lane * 8 + i]!)
      state[lane] = state[lane]! ^ value
    }
    permute(state)
  }

  const out = new Uint8Array(32)
  for (let lane = 0; lane < 4; lane++) {
    let value = state[lane]!
    for (let i = 0; i < 8; i++) {
      out[lane * 8 + i] = Number(value & 0xffn)
      value >>= 8n
    }
  }
  return out
}

export function bytesToHex(bytes: Uint8Array): string {
  let hex = ''
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0')
  return hex
}
