/**
 * The live notification channel (`/api/ws`), independent of React.
 *
 * Protocol (server envelope `{type, data, timestamp}`):
 * - on open the client sends `{type:"resume", data:{since}}` with the highest
 *   `seq` it has seen; the server replays everything newer, in order, then
 *   streams live `notification`s. Each is acknowledged with `{type:"ack"}`
 *   and de-duplicated by `seq` (a replay may overlap what was already seen).
 * - the client sends `{type:"heartbeat"}` every `heartbeatIntervalMs` and the
 *   server answers (a server-initiated heartbeat is answered too, but a reply
 *   to our own is not, so the two sides never ping-pong); silence longer than
 *   `idleTimeoutMs` counts as a dead connection.
 * - `reset` means the client fell too far behind: refetch instead.
 * - an `UNAUTHORIZED` error means the handshake's session cookie was stale:
 *   reconnect (renewing the session first).
 * - on close the client reconnects with exponential backoff and jitter
 *   (0.5 s doubling to 15 s) and resumes from the last seq.
 */
import type { AppNotification } from './notifications'

/** The parts of `WebSocket` used here (injectable for tests). */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: unknown) => void) | null
  onerror: ((event: unknown) => void) | null
}

export type SocketStatus = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'stopped'

export interface SocketOptions {
  url: string
  createSocket?: (url: string) => WebSocketLike
  /** Highest `seq` already shown (the resume point of the first connection). */
  initialSeq?: number
  /**
   * Runs before every connection attempt (make sure the session cookie is
   * fresh: the handshake authenticates with it). `false` stops the socket for
   * good (signed out); a rejection is retried with backoff (server down).
   */
  beforeConnect?: () => Promise<boolean>
  minDelayMs?: number
  maxDelayMs?: number
  /** Client heartbeat period (default 25 s). */
  heartbeatIntervalMs?: number
  /** No message for this long: reconnect (default 60 s). */
  idleTimeoutMs?: number
  random?: () => number
  onNotification?: (notification: AppNotification) => void
  onReset?: (data: unknown) => void
  onStatus?: (status: SocketStatus, retryInMs: number | null) => void
  onAuthenticated?: (data: unknown) => void
  onServerError?: (data: { code: string; message: string }) => void
}

const OPEN = 1
const MAX_REMEMBERED = 500

/** Delay before reconnect attempt `attempt` (0-based): `min·2^attempt` capped at `max`, minus up to half as jitter. */
export function backoffDelay(attempt: number, minMs = 500, maxMs = 15_000, random: () => number = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
  return Math.round(base * (0.5 + random() * 0.5))
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function asNotification(data: unknown): AppNotification | null {
  if (!isRecord(data)) return null
  const { id, seq, userId, createdAt, read } = data
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return null
  return {
    id: typeof id === 'number' ? id : seq,
    seq,
    userId: typeof userId === 'number' ? userId : 0,
    data: data.data,
    createdAt: typeof createdAt === 'string' ? createdAt : new Date().toISOString(),
    read: read === true,
  }
}

/** The highest numeric `seq`-like field of a `reset` payload, if any. */
function resetSeq(data: unknown): number | null {
  if (!isRecord(data)) return null
  for (const key of ['seq', 'latestSeq', 'lastSeq', 'since']) {
    const value = data[key]
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value
  }
  return null
}

export class NotificationSocket {
  private readonly options: SocketOptions
  private ws: WebSocketLike | null = null
  private generation = 0
  private attempt = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private idleTimer: ReturnType<typeof setTimeout> | undefined
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined
  private awaitingHeartbeat = false
  private stopped = true
  private statusValue: SocketStatus = 'idle'
  /** Everything at or below `floor` counts as seen; `seen` holds what is above. */
  private floor: number
  private maxSeq: number
  private readonly seen = new Set<number>()

  constructor(options: SocketOptions) {
    this.options = options
    this.floor = Math.max(0, options.initialSeq ?? 0)
    this.maxSeq = this.floor
  }

  get status(): SocketStatus {
    return this.statusValue
  }

  /** The resume point: the highest `seq` received or known. */
  get lastSeq(): number {
    return this.maxSeq
  }

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    this.attempt = 0
    void this.connect()
  }

  stop(): void {
    this.stopped = true
    this.generation++
    clearTimeout(this.retryTimer)
    clearTimeout(this.idleTimer)
    clearInterval(this.heartbeatTimer)
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
      try {
        ws.close(1000, 'client stopped')
      } catch {
        // already closed
      }
    }
    this.setStatus('stopped', null)
  }

  /** Skip the backoff wait (the browser came back online, the tab became visible). */
  reconnectNow(): void {
    if (this.stopped || this.statusValue !== 'reconnecting' || this.ws) return
    clearTimeout(this.retryTimer)
    this.attempt = 0
    void this.connect()
  }

  /** Everything up to `seq` is known (e.g. a refetched list): don't replay or re-announce it. */
  advanceTo(seq: number): void {
    if (seq <= this.floor) return
    this.floor = seq
    this.maxSeq = Math.max(this.maxSeq, seq)
    for (const s of this.seen) if (s <= seq) this.seen.delete(s)
  }

  private setStatus(status: SocketStatus, retryInMs: number | null): void {
    this.statusValue = status
    this.options.onStatus?.(status, retryInMs)
  }

  private send(message: Record<string, unknown>): void {
    const ws = this.ws
    if (ws && ws.readyState === OPEN) ws.send(JSON.stringify(message))
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation
    this.setStatus(this.attempt === 0 ? 'connecting' : 'reconnecting', null)
    if (this.options.beforeConnect) {
      let proceed: boolean
      try {
        proceed = await this.options.beforeConnect()
      } catch {
        if (generation === this.generation && !this.stopped) this.scheduleReconnect()
        return
      }
      if (generation !== this.generation || this.stopped) return
      if (!proceed) {
        this.stop()
        return
      }
    }

    let ws: WebSocketLike
    try {
      ws = (this.options.createSocket ?? ((url) => new WebSocket(url) as unknown as WebSocketLike))(this.options.url)
    } catch {
      this.scheduleReconnect()
      return
    }
    this.ws = ws
    ws.onopen = () => {
      if (generation !== this.generation) return
      this.setStatus('open', null)
      this.send({ type: 'resume', data: { since: this.maxSeq } })
      this.armIdle(generation)
      this.awaitingHeartbeat = false
      clearInterval(this.heartbeatTimer)
      this.heartbeatTimer = setInterval(() => {
        if (generation !== this.generation) return
        this.awaitingHeartbeat = true
        this.send({ type: 'heartbeat' })
      }, this.options.heartbeatIntervalMs ?? 25_000)
    }
    ws.onmessage = (event) => {
      if (generation !== this.generation) return
      this.attempt = 0
      this.armIdle(generation)
      this.handle(event.data)
    }
    ws.onclose = () => {
      if (generation !== this.generation) return
      this.dropConnection()
    }
    ws.onerror = () => {
      // A close event follows; reconnecting happens there.
    }
  }

  private dropConnection(): void {
    this.generation++
    clearTimeout(this.idleTimer)
    clearInterval(this.heartbeatTimer)
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null
      try {
        ws.close()
      } catch {
        // already closed
      }
    }
    if (!this.stopped) this.scheduleReconnect()
  }

  private scheduleReconnect(): void {
    clearTimeout(this.retryTimer)
    const delay = backoffDelay(
      this.attempt,
      this.options.minDelayMs,
      this.options.maxDelayMs,
      this.options.random,
    )
    this.attempt++
    this.setStatus('reconnecting', delay)
    this.retryTimer = setTimeout(() => {
      if (!this.stopped) void this.connect()
    }, delay)
  }

  private armIdle(generation: number): void {
    clearTimeout(this.idleTimer)
    const timeout = this.options.idleTimeoutMs ?? 60_000
    this.idleTimer = setTimeout(() => {
      if (generation === this.generation && !this.stopped) this.dropConnection()
    }, timeout)
  }

  private handle(raw: unknown): void {
    if (typeof raw !== 'string') return
    let message: unknown
    try {
      message = JSON.parse(raw)
    } catch {
      return
    }
    if (!isRecord(message) || typeof message.type !== 'string') return
    switch (message.type) {
      case 'heartbeat':
        if (this.awaitingHeartbeat) this.awaitingHeartbeat = false
        else this.send({ type: 'heartbeat' })
        break
      case 'user_authenticated':
        this.options.onAuthenticated?.(message.data)
        break
      case 'notification': {
        const notification = asNotification(message.data)
        if (!notification || !this.isNew(notification.seq)) return
        this.remember(notification.seq)
        this.send({ type: 'ack', data: { seq: notification.seq } })
        this.options.onNotification?.(notification)
        break
      }
      case 'reset': {
        const seq = resetSeq(message.data)
        if (seq !== null) this.advanceTo(seq)
        this.options.onReset?.(message.data)
        break
      }
      case 'error': {
        const data = isRecord(message.data) ? message.data : {}
        const code = typeof data.code === 'string' ? data.code : 'UNKNOWN'
        this.options.onServerError?.({
          code,
          message: typeof data.message === 'string' ? data.message : 'Unknown error',
        })
        // The handshake carried no valid session (the access cookie had expired): connect
        // again, after beforeConnect has renewed it.
        if (code === 'UNAUTHORIZED') this.dropConnection()
        break
      }
      default:
        break
    }
  }

  private isNew(seq: number): boolean {
    return seq > this.floor && !this.seen.has(seq)
  }

  private remember(seq: number): void {
    this.seen.add(seq)
    this.maxSeq = Math.max(this.maxSeq, seq)
    if (this.seen.size > MAX_REMEMBERED) {
      const oldest = Math.min(...this.seen)
      this.seen.delete(oldest)
      this.floor = Math.max(this.floor, oldest)
    }
  }
}
