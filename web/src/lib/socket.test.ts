import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AppNotification } from './notifications'
import { backoffDelay, NotificationSocket, type SocketOptions, type SocketStatus, type WebSocketLike } from './socket'

class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = []
  readyState = 0
  sent: Array<Record<string, unknown>> = []
  closed = false
  onopen: ((event: unknown) => void) | null = null
  onmessage: ((event: { data: unknown }) => void) | null = null
  onclose: ((event: unknown) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  constructor(readonly url: string) {
    FakeSocket.all.push(this)
  }
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>)
  }
  close() {
    this.closed = true
    this.readyState = 3
  }
  // server side
  open() {
    this.readyState = 1
    this.onopen?.({})
  }
  receive(message: unknown) {
    this.onmessage?.({ data: JSON.stringify(message) })
  }
  drop() {
    this.readyState = 3
    this.onclose?.({ code: 1006 })
  }
  notify(seq: number, extra: Partial<AppNotification> = {}) {
    this.receive({
      type: 'notification',
      data: { id: seq * 10, seq, userId: 1, data: { title: `n${seq}` }, createdAt: '2025-01-01T00:00:00Z', read: false, ...extra },
      timestamp: Date.now(),
    })
  }
}

const latest = () => FakeSocket.all[FakeSocket.all.length - 1]!

/** Let pending promise callbacks (beforeConnect) run. */
const flush = () => vi.advanceTimersByTimeAsync(0)

function make(options: Partial<SocketOptions> = {}) {
  const received: AppNotification[] = []
  const statuses: SocketStatus[] = []
  const socket = new NotificationSocket({
    url: 'ws://test/api/ws',
    createSocket: (url) => new FakeSocket(url),
    random: () => 1,
    onNotification: (n) => received.push(n),
    onStatus: (s) => statuses.push(s),
    ...options,
  })
  return { socket, received, statuses }
}

beforeEach(() => {
  FakeSocket.all = []
  vi.useFakeTimers()
})
afterEach(() => {
  vi.useRealTimers()
})

describe('backoffDelay', () => {
  it('doubles from 0.5 s to a 15 s cap, with up to half taken off as jitter', () => {
    const top = (n: number) => backoffDelay(n, 500, 15_000, () => 1)
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(top)).toEqual([500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000])
    expect(backoffDelay(0, 500, 15_000, () => 0)).toBe(250)
    expect(backoffDelay(9, 500, 15_000, () => 0)).toBe(7500)
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3)
      expect(d).toBeGreaterThanOrEqual(2000)
      expect(d).toBeLessThanOrEqual(4000)
    }
  })
})

describe('NotificationSocket', () => {
  it('resumes from the initial seq on open and acknowledges new notifications', async () => {
    const { socket, received, statuses } = make({ initialSeq: 7 })
    socket.start()
    await flush()
    const ws = latest()
    expect(ws.url).toBe('ws://test/api/ws')
    ws.open()
    expect(ws.sent).toEqual([{ type: 'resume', data: { since: 7 } }])
    ws.receive({ type: 'user_authenticated', data: { userId: 1, wallet: '0xabc' } })
    ws.notify(8)
    expect(received.map((n) => n.seq)).toEqual([8])
    expect(received[0]).toMatchObject({ id: 80, data: { title: 'n8' }, read: false })
    expect(ws.sent[1]).toEqual({ type: 'ack', data: { seq: 8 } })
    expect(socket.lastSeq).toBe(8)
    expect(statuses).toEqual(['connecting', 'open'])
  })

  it('drops duplicates and anything at or below the resume point', async () => {
    const { socket, received } = make({ initialSeq: 5 })
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    ws.notify(4)
    ws.notify(5)
    ws.notify(6)
    ws.notify(6)
    ws.notify(8)
    ws.notify(7) // out of order but unseen: still delivered
    ws.notify(8)
    expect(received.map((n) => n.seq)).toEqual([6, 8, 7])
    expect(ws.sent.filter((m) => m.type === 'ack')).toHaveLength(3)
    expect(socket.lastSeq).toBe(8)
  })

  it('ignores malformed frames', async () => {
    const { socket, received } = make()
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    ws.onmessage?.({ data: 'not json' })
    ws.receive({ type: 'notification', data: { seq: 'x' } })
    ws.receive({ nope: true })
    expect(received).toEqual([])
  })

  it('answers server heartbeats', async () => {
    const { socket } = make()
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    ws.receive({ type: 'heartbeat', timestamp: 1 })
    expect(ws.sent.at(-1)).toEqual({ type: 'heartbeat' })
  })

  it('sends its own heartbeat every 25 s and does not answer the reply', async () => {
    const { socket } = make()
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    const heartbeats = () => ws.sent.filter((m) => m.type === 'heartbeat').length
    await vi.advanceTimersByTimeAsync(24_999)
    expect(heartbeats()).toBe(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(heartbeats()).toBe(1)
    ws.receive({ type: 'heartbeat' }) // the server's reply
    expect(heartbeats()).toBe(1)
    await vi.advanceTimersByTimeAsync(25_000)
    expect(heartbeats()).toBe(2)
    // Replies keep a quiet connection alive past the idle timeout.
    ws.receive({ type: 'heartbeat' })
    await vi.advanceTimersByTimeAsync(50_000)
    expect(ws.closed).toBe(false)
  })

  it('reconnects after drops and resumes from the last seq, without repeats', async () => {
    const { socket, received, statuses } = make({ initialSeq: 0 })
    socket.start()
    await flush()
    latest().open()
    latest().notify(1)
    latest().notify(2)
    latest().drop()
    expect(statuses.at(-1)).toBe('reconnecting')

    // The server stays down for a while: each attempt fails and waits longer.
    for (let i = 0; i < 4; i++) {
      const before = FakeSocket.all.length
      await vi.advanceTimersByTimeAsync(20_000)
      expect(FakeSocket.all.length).toBe(before + 1)
      latest().drop()
    }
    expect(FakeSocket.all).toHaveLength(5)

    // Back up: resume from seq 2; the replay overlaps what was seen.
    await vi.advanceTimersByTimeAsync(20_000)
    const ws = latest()
    ws.open()
    expect(ws.sent[0]).toEqual({ type: 'resume', data: { since: 2 } })
    ws.notify(2)
    ws.notify(3)
    ws.notify(4)
    expect(received.map((n) => n.seq)).toEqual([1, 2, 3, 4])
  })

  it('waits 0.5 s, 1 s, 2 s, 4 s between attempts (no jitter)', async () => {
    const { socket } = make()
    socket.start()
    await flush()
    latest().drop()
    const expected = [500, 1000, 2000, 4000, 8000, 15_000, 15_000]
    for (const delay of expected) {
      const count = FakeSocket.all.length
      await vi.advanceTimersByTimeAsync(delay - 1)
      expect(FakeSocket.all.length).toBe(count)
      await vi.advanceTimersByTimeAsync(1)
      expect(FakeSocket.all.length).toBe(count + 1)
      latest().drop()
    }
  })

  it('resets the backoff once a connection delivers a message', async () => {
    const { socket } = make()
    socket.start()
    await flush()
    latest().drop()
    await vi.advanceTimersByTimeAsync(500)
    latest().drop()
    await vi.advanceTimersByTimeAsync(1000)
    latest().open()
    latest().receive({ type: 'user_authenticated', data: {} })
    latest().drop()
    const count = FakeSocket.all.length
    await vi.advanceTimersByTimeAsync(500)
    expect(FakeSocket.all.length).toBe(count + 1)
  })

  it('retries when beforeConnect fails (server down) and stops when it reports the session over', async () => {
    let answer: 'down' | 'ok' | 'signed-out' = 'down'
    const beforeConnect = vi.fn(async () => {
      if (answer === 'down') throw new Error('network')
      return answer === 'ok'
    })
    const { socket, statuses } = make({ beforeConnect })
    socket.start()
    await flush()
    expect(FakeSocket.all).toHaveLength(0)
    expect(statuses.at(-1)).toBe('reconnecting')
    await vi.advanceTimersByTimeAsync(500)
    expect(beforeConnect).toHaveBeenCalledTimes(2)
    answer = 'ok'
    await vi.advanceTimersByTimeAsync(1000)
    expect(FakeSocket.all).toHaveLength(1)
    latest().open()
    latest().drop()
    answer = 'signed-out'
    await vi.advanceTimersByTimeAsync(20_000)
    expect(FakeSocket.all).toHaveLength(1)
    expect(statuses.at(-1)).toBe('stopped')
  })

  it('treats a silent connection as dead', async () => {
    const { socket } = make({ idleTimeoutMs: 60_000, heartbeatIntervalMs: 10 * 60_000 })
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    await vi.advanceTimersByTimeAsync(30_000)
    ws.receive({ type: 'heartbeat' })
    await vi.advanceTimersByTimeAsync(59_000)
    expect(ws.closed).toBe(false)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(ws.closed).toBe(true)
    await vi.advanceTimersByTimeAsync(500)
    expect(FakeSocket.all).toHaveLength(2)
  })

  it('on reset reports it and honours a seq it carries', async () => {
    const onReset = vi.fn()
    const { socket, received } = make({ onReset })
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    ws.receive({ type: 'reset', data: { latestSeq: 40 } })
    expect(onReset).toHaveBeenCalledWith({ latestSeq: 40 })
    ws.notify(39)
    ws.notify(41)
    expect(received.map((n) => n.seq)).toEqual([41])
  })

  it('advanceTo raises the resume point', async () => {
    const { socket } = make()
    socket.advanceTo(12)
    socket.start()
    await flush()
    latest().open()
    expect(latest().sent[0]).toEqual({ type: 'resume', data: { since: 12 } })
  })

  it('reports server errors and keeps the connection', async () => {
    const onServerError = vi.fn()
    const { socket } = make({ onServerError })
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    ws.receive({ type: 'error', data: { code: 'BAD_MESSAGE', message: 'nope' } })
    expect(onServerError).toHaveBeenCalledWith({ code: 'BAD_MESSAGE', message: 'nope' })
    expect(ws.closed).toBe(false)
  })

  it('reconnects, renewing the session first, when the server says the socket is not authenticated', async () => {
    const beforeConnect = vi.fn(async () => true)
    const { socket } = make({ beforeConnect })
    socket.start()
    await flush()
    const ws = latest()
    ws.open()
    ws.receive({ type: 'error', data: { code: 'UNAUTHORIZED', message: 'authenticate before resuming' } })
    expect(ws.closed).toBe(true)
    await vi.advanceTimersByTimeAsync(500)
    expect(beforeConnect).toHaveBeenCalledTimes(2)
    expect(FakeSocket.all).toHaveLength(2)
  })

  it('stop() closes and never reconnects; reconnectNow() skips the wait', async () => {
    const { socket } = make()
    socket.start()
    await flush()
    latest().drop()
    socket.reconnectNow()
    await flush()
    expect(FakeSocket.all).toHaveLength(2)
    const ws = latest()
    ws.open()
    socket.stop()
    expect(ws.closed).toBe(true)
    ws.drop()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(FakeSocket.all).toHaveLength(2)
    expect(socket.status).toBe('stopped')
  })
})
