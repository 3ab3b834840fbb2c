import { describe, expect, it } from 'vitest'
import { summarizeJobs } from './jobs'
import { describeNotification, summarizeJson } from './notifications'

describe('describeNotification', () => {
  it('uses title and message/body when present', () => {
    expect(describeNotification({ title: 'Deposit', message: 'You received 1 ETH' })).toEqual({
      title: 'Deposit',
      body: 'You received 1 ETH',
    })
    expect(describeNotification({ title: 'Hi', body: 'There' })).toEqual({ title: 'Hi', body: 'There' })
    expect(describeNotification({ message: 'Only a message' })).toEqual({ title: 'Only a message', body: null })
  })

  it('falls back to a compact JSON summary', () => {
    expect(describeNotification({ amount: 3, token: 'USDC' })).toEqual({
      title: 'Notification',
      body: '{"amount":3,"token":"USDC"}',
    })
    expect(describeNotification('plain text')).toEqual({ title: 'plain text', body: null })
    expect(describeNotification([1, 2])).toEqual({ title: 'Notification', body: '[1,2]' })
    expect(summarizeJson({ long: 'x'.repeat(500) }, 20)).toHaveLength(20)
  })
})

describe('summarizeJobs', () => {
  it('tallies a job list by status and lists recent failures', () => {
    const summary = summarizeJobs({
      jobs: [
        { id: 1, type: 'email', status: 'succeeded', finished: '2025-01-01T00:00:00Z' },
        { id: 2, type: 'email', status: 'failed', lastError: 'SMTP down', finished: '2025-01-01T00:01:00Z' },
        { id: 3, type: 'sync', status: 'pending' },
        { id: 4, type: 'sync', status: 'dead', result: { error: 'gave up' }, finished: '2025-01-01T00:02:00Z' },
      ],
      next: 4,
    })
    expect(summary.counts).toEqual([
      ['pending', 1],
      ['succeeded', 1],
      ['failed', 1],
      ['dead', 1],
    ])
    expect(summary.failures.map((f) => [f.id, f.error])).toEqual([
      ['4', 'gave up'],
      ['2', 'SMTP down'],
    ])
    expect(summary.listed).toBe(4)
    expect(summary.countsFrom).toBe('list')
  })

  it('prefers explicit counts and failures', () => {
    const summary = summarizeJobs({ counts: { running: 2, failed: 1 }, recentFailures: [{ id: 9, type: 'x', error: 'boom' }] })
    expect(summary.counts).toEqual([
      ['running', 2],
      ['failed', 1],
    ])
    expect(summary.failures).toEqual([{ id: '9', type: 'x', when: null, error: 'boom' }])
    expect(summary.countsFrom).toBe('server')
  })
})

describe('formatRelative', () => {
  it('picks a readable unit', async () => {
    const { formatRelative } = await import('./format')
    const now = new Date('2025-01-31T00:00:00Z')
    const at = (seconds: number) => formatRelative(new Date(now.getTime() + seconds * 1000), now)
    expect(at(10)).toBe('just now')
    expect(at(-5 * 60)).toBe('5 minutes ago')
    expect(at(-3 * 3600)).toBe('3 hours ago')
    expect(at(30 * 24 * 3600)).toBe('in 30 days')
    expect(at(-90 * 24 * 3600)).toBe('3 months ago')
  })
})
