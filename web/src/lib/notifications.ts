/** Notifications over GraphQL, and how a notification's free-form `data` is shown. */
import { graphql } from './graphql'

export interface AppNotification {
  id: number
  seq: number
  userId: number
  data: unknown
  createdAt: string
  read: boolean
}

export interface NotificationPage {
  notifications: AppNotification[]
  startIndex: number
  total: number
}

const FIELDS = 'id seq userId data createdAt read'

export const NOTIFICATIONS_QUERY = `query MyNotifications($pageParam: PageParam!) {
  getMyNotifications(pageParam: $pageParam) { notifications { ${FIELDS} } startIndex total }
}`
export const UNREAD_COUNT_QUERY = 'query UnreadCount { getMyUnreadNotificationsCount }'
export const MARK_READ_MUTATION = `mutation MarkRead($id: PositiveInt!) { markNotificationAsRead(id: $id) { success } }`
export const MARK_ALL_READ_MUTATION = 'mutation MarkAllRead { markAllNotificationsAsRead { success } }'

export async function fetchNotifications(startIndex: number, perPage: number, signal?: AbortSignal): Promise<NotificationPage> {
  const data = await graphql<{ getMyNotifications: NotificationPage }>(
    NOTIFICATIONS_QUERY,
    { pageParam: { startIndex, perPage } },
    { signal },
  )
  return data.getMyNotifications
}

export async function fetchUnreadCount(signal?: AbortSignal): Promise<number> {
  const data = await graphql<{ getMyUnreadNotificationsCount: number }>(UNREAD_COUNT_QUERY, undefined, { signal })
  return data.getMyUnreadNotificationsCount
}

export async function markNotificationRead(id: number): Promise<void> {
  await graphql(MARK_READ_MUTATION, { id })
}

export async function markAllNotificationsRead(): Promise<void> {
  await graphql(MARK_ALL_READ_MUTATION)
}

function text(value: unknown): string | null {
  if (typeof value === 'string' && value.trim()) return value.trim()
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return null
}

/** Compact one-line JSON, cut to `max` characters. */
export function summarizeJson(value: unknown, max = 160): string {
  let json: string
  try {
    json = JSON.stringify(value) ?? String(value)
  } catch {
    json = String(value)
  }
  return json.length > max ? `${json.slice(0, max - 1)}…` : json
}

/** Title and body to show for a notification's free-form `data`. */
export function describeNotification(data: unknown): { title: string; body: string | null } {
  if (typeof data === 'string') return { title: data, body: null }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { title: 'Notification', body: summarizeJson(data) }
  }
  const record = data as Record<string, unknown>
  const title = text(record.title) ?? text(record.subject) ?? text(record.type)
  const body = text(record.message) ?? text(record.body) ?? text(record.text)
  if (title || body) return { title: title ?? body ?? 'Notification', body: title ? body : null }
  return { title: 'Notification', body: Object.keys(record).length ? summarizeJson(record) : null }
}
