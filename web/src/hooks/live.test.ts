import { QueryClient } from '@tanstack/react-query'
import { describe, expect, it } from 'vitest'
import type { AppNotification, NotificationPage } from '../lib/notifications'
import { queryKeys } from '../lib/queryClient'
import { applyLiveNotification, NOTIFICATIONS_PER_PAGE, socketUrl } from './live'

const n = (seq: number, read = false): AppNotification => ({
  id: seq * 10,
  seq,
  userId: 1,
  data: { title: `n${seq}` },
  createdAt: '2025-01-01T00:00:00Z',
  read,
})

describe('applyLiveNotification', () => {
  it('prepends to the cached first page, keeps its size and bumps the unread count once', () => {
    const client = new QueryClient()
    const key = queryKeys.notificationPage(0, NOTIFICATIONS_PER_PAGE)
    const existing = Array.from({ length: NOTIFICATIONS_PER_PAGE }, (_, i) => n(NOTIFICATIONS_PER_PAGE - i))
    client.setQueryData<NotificationPage>(key, { notifications: existing, startIndex: 0, total: 25 })
    client.setQueryData(queryKeys.unreadCount, 2)

    applyLiveNotification(client, n(11))
    applyLiveNotification(client, n(11)) // already listed: changes nothing

    const page = client.getQueryData<NotificationPage>(key)!
    expect(page.notifications.map((x) => x.seq)).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2])
    expect(page.total).toBe(26)
    expect(client.getQueryData(queryKeys.unreadCount)).toBe(3)
  })

  it('leaves an uncached list alone and does not count read notifications', () => {
    const client = new QueryClient()
    client.setQueryData(queryKeys.unreadCount, 0)
    applyLiveNotification(client, n(3, true))
    expect(client.getQueryData(queryKeys.notificationPage(0, NOTIFICATIONS_PER_PAGE))).toBeUndefined()
    expect(client.getQueryData(queryKeys.unreadCount)).toBe(0)
  })
})

describe('socketUrl', () => {
  it('uses ws: or wss: on the page origin', () => {
    expect(socketUrl({ protocol: 'http:', host: '127.0.0.1:3000' })).toBe('ws://127.0.0.1:3000/api/ws')
    expect(socketUrl({ protocol: 'https:', host: 'app.example' })).toBe('wss://app.example/api/ws')
  })
})
