/**
 * Live notifications for the signed-in user: one `NotificationSocket` per
 * signed-in tab. New notifications update the TanStack Query cache (list
 * and unread badge) at once and show a toast; a reconnect resumes from the
 * last seen `seq`, so whatever arrived while the server was away is replayed.
 */
import { useQueryClient, type QueryClient } from '@tanstack/react-query'
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react'
import { useToasts } from '../components/Toaster'
import { ensureFreshSession } from '../lib/http'
import {
  describeNotification,
  fetchNotifications,
  type AppNotification,
  type NotificationPage,
} from '../lib/notifications'
import { queryKeys } from '../lib/queryClient'
import { NotificationSocket, type SocketStatus } from '../lib/socket'
import { useAuth } from './auth'

export const NOTIFICATIONS_PER_PAGE = 10

export interface LiveState {
  status: SocketStatus
  retryInMs: number | null
}

const LiveContext = createContext<LiveState>({ status: 'idle', retryInMs: null })

export function socketUrl(location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/ws`
}

/** Put a live notification into the cached first page and bump the unread count. */
export function applyLiveNotification(queryClient: QueryClient, notification: AppNotification): void {
  const key = queryKeys.notificationPage(0, NOTIFICATIONS_PER_PAGE)
  const known = queryClient.getQueryData<NotificationPage>(key)?.notifications.some((n) => n.seq === notification.seq)
  if (known) return
  queryClient.setQueryData<number>(queryKeys.unreadCount, (count) =>
    typeof count === 'number' && !notification.read ? count + 1 : count,
  )
  queryClient.setQueryData<NotificationPage>(key, (page) => {
    if (!page || page.notifications.some((n) => n.seq === notification.seq)) return page
    const notifications = [notification, ...page.notifications]
      .sort((a, b) => b.seq - a.seq)
      .slice(0, NOTIFICATIONS_PER_PAGE)
    return { ...page, notifications, total: page.total + 1 }
  })
}

function maxSeq(page: NotificationPage | undefined): number {
  return page ? page.notifications.reduce((max, n) => Math.max(max, n.seq), 0) : 0
}

export function LiveProvider({ children }: { children: ReactNode }) {
  const { status: authStatus, user } = useAuth()
  const queryClient = useQueryClient()
  const { push } = useToasts()
  const [state, setState] = useState<LiveState>({ status: 'idle', retryInMs: null })
  const userId = authStatus === 'signed_in' ? (user?.id ?? null) : null

  useEffect(() => {
    if (userId === null) {
      setState({ status: 'idle', retryInMs: null })
      return
    }
    let disposed = false
    let socket: NotificationSocket | null = null
    let burst: AppNotification[] = []
    let burstTimer: ReturnType<typeof setTimeout> | undefined
    let opened = 0

    const refetchAll = () => void queryClient.invalidateQueries({ queryKey: queryKeys.notifications })

    const flushBurst = () => {
      const arrived = burst
      burst = []
      if (disposed || arrived.length === 0) return
      const newest = arrived.reduce((a, b) => (b.seq > a.seq ? b : a))
      const { title, body } = describeNotification(newest.data)
      if (arrived.length === 1) {
        push({ title, body, action: { label: 'View notifications', href: '/notifications' } })
      } else {
        push({
          title: `${arrived.length} new notifications`,
          body: `Latest: ${title}`,
          action: { label: 'View notifications', href: '/notifications' },
        })
      }
      refetchAll()
    }

    const start = async () => {
      let since = 0
      try {
        const head = await queryClient.fetchQuery({
          queryKey: queryKeys.notificationPage(0, NOTIFICATIONS_PER_PAGE),
          queryFn: ({ signal }) => fetchNotifications(0, NOTIFICATIONS_PER_PAGE, signal),
          staleTime: 5_000,
        })
        since = maxSeq(head)
      } catch {
        // The socket replays from the start; the list retries on its own.
      }
      if (disposed) return
      socket = new NotificationSocket({
        url: socketUrl(),
        initialSeq: since,
        beforeConnect: ensureFreshSession,
        onStatus: (status, retryInMs) => {
          if (disposed) return
          setState({ status, retryInMs })
          if (status === 'open' && opened++ > 0) refetchAll()
        },
        onNotification: (notification) => {
          applyLiveNotification(queryClient, notification)
          burst.push(notification)
          clearTimeout(burstTimer)
          burstTimer = setTimeout(flushBurst, 250)
        },
        onReset: () => {
          void queryClient
            .fetchQuery({
              queryKey: queryKeys.notificationPage(0, NOTIFICATIONS_PER_PAGE),
              queryFn: ({ signal }) => fetchNotifications(0, NOTIFICATIONS_PER_PAGE, signal),
              staleTime: 0,
            })
            .then((page) => socket?.advanceTo(maxSeq(page)))
            .catch(() => {})
          refetchAll()
        },
      })
      socket.start()
    }

    const wake = () => socket?.reconnectNow()
    const onVisible = () => {
      if (document.visibilityState === 'visible') wake()
    }
    window.addEventListener('online', wake)
    document.addEventListener('visibilitychange', onVisible)
    void start()

    return () => {
      disposed = true
      clearTimeout(burstTimer)
      socket?.stop()
      window.removeEventListener('online', wake)
      document.removeEventListener('visibilitychange', onVisible)
    }
  }, [userId, queryClient, push])

  return <LiveContext.Provider value={state}>{children}</LiveContext.Provider>
}

export function useLive(): LiveState {
  return useContext(LiveContext)
}
