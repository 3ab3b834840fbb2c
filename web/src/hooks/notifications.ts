import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import {
  fetchNotifications,
  fetchUnreadCount,
  markAllNotificationsRead,
  markNotificationRead,
  type NotificationPage,
} from '../lib/notifications'
import { queryKeys } from '../lib/queryClient'
import { useAuth } from './auth'
import { NOTIFICATIONS_PER_PAGE } from './live'

export function useNotificationPage(page: number) {
  const { status } = useAuth()
  const startIndex = Math.max(0, page - 1) * NOTIFICATIONS_PER_PAGE
  return useQuery({
    queryKey: queryKeys.notificationPage(startIndex, NOTIFICATIONS_PER_PAGE),
    queryFn: ({ signal }) => fetchNotifications(startIndex, NOTIFICATIONS_PER_PAGE, signal),
    enabled: status === 'signed_in',
    placeholderData: keepPreviousData,
  })
}

export function useUnreadCount() {
  const { status } = useAuth()
  return useQuery({
    queryKey: queryKeys.unreadCount,
    queryFn: ({ signal }) => fetchUnreadCount(signal),
    enabled: status === 'signed_in',
    staleTime: 30_000,
  })
}

type PageEntries = Array<[readonly unknown[], NotificationPage | undefined]>

/** Mark read optimistically in every cached page and the badge; roll back on failure. */
export function useMarkRead() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (id: number) => markNotificationRead(id),
    onMutate: async (id: number) => {
      await queryClient.cancelQueries({ queryKey: queryKeys.notifications })
      const pages = queryClient.getQueriesData<NotificationPage>({ queryKey: ['notifications', 'page'] }) as PageEntries
      const count = queryClient.getQueryData<number>(queryKeys.unreadCount)
      const wasUnread = pages.some(([, page]) => page?.notifications.some((n) => n.id === id && !n.read))
      for (const [key, page] of pages) {
        if (!page) continue
        queryClient.setQueryData<NotificationPage>(key, {
          ...page,
          notifications: page.notifications.map((n) => (n.id === id ? { ...n, read: true } : n)),
        })
      }
      if (wasUnread && typeof count === 'number') queryClient.setQueryData(queryKeys.unreadCount, Math.max(0, count - 1))
      return { pages, count }
    },
    onError: (_err, _id, context) => {
      if (!context) return
      for (const [key, page] of context.pages) queryClient.setQueryData(key, page)
      queryClient.setQueryData(queryKeys.unreadCount, context.count)
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: queryKeys.notifications }),
  })
}

export function useMarkAllRead() {
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: () => markAllNotificationsRead(),
    onMutate: async () => {
      await queryClient.cancelQueries({ queryKey: queryKeys.notifications })
      const pages = queryClient.getQueriesData<NotificationPage>({ queryKey: ['notifications', 'page'] }) as PageEntries
      const count = queryClient.getQueryData<number>(queryKeys.unreadCount)
      for (const [key, page] of pages) {
        if (!page) continue
        queryClient.setQueryData<NotificationPage>(key, {
          ...page,
          notifications: page.notifications.map((n) => ({ ...n, read: true })),
        })
      }
      queryClient.setQueryData(queryKeys.unreadCount, 0)
      return { pages, count }
    },
    onError: (_err, _vars, context) => {
      if (!context) return
      for (const [key, page] of context.pages) queryClient.setQueryData(key, page)
      queryClient.setQueryData(queryKeys.unreadCount, context.count)
    },
    onSettled: () => queryClient.invalidateQueries({ queryKey: queryKeys.notifications }),
  })
}
