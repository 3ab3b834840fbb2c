import { AlertIcon, CheckAllIcon, CheckIcon, ChevronLeftIcon, ChevronRightIcon, InboxIcon, SpinnerIcon } from '../components/icons'
import { useToasts } from '../components/Toaster'
import { NOTIFICATIONS_PER_PAGE, useLive } from '../hooks/live'
import { useMarkAllRead, useMarkRead, useNotificationPage, useUnreadCount } from '../hooks/notifications'
import { formatDateTime, formatRelative } from '../lib/format'
import { errorMessage } from '../lib/http'
import { describeNotification, type AppNotification } from '../lib/notifications'
import { Link, useLocation } from '../lib/router'
import type { SocketStatus } from '../lib/socket'

const LIVE_LABELS: Record<SocketStatus, string> = {
  idle: 'Offline',
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Offline',
}

function LiveIndicator() {
  const { status } = useLive()
  const live = status === 'open'
  return (
    <span
      className={`inline-flex items-center gap-1.5 rounded-full px-2.5 py-1 text-xs font-semibold ring-1 ring-inset ${live ? 'bg-success/10 text-emerald-800 ring-success/30 dark:text-emerald-300' : 'bg-secondary/10 text-muted ring-secondary/25'}`}
      data-testid="live-status"
      data-status={status}
      title={live ? 'New notifications appear here as they arrive' : 'Waiting for the live connection'}
    >
      <span className={`size-2 rounded-full ${live ? 'animate-pulse bg-success' : 'bg-secondary'}`} aria-hidden="true" />
      {LIVE_LABELS[status]}
    </span>
  )
}

function NotificationRow({ notification }: { notification: AppNotification }) {
  const markRead = useMarkRead()
  const { push } = useToasts()
  const { title, body } = describeNotification(notification.data)
  const created = new Date(notification.createdAt)
  const validDate = !Number.isNaN(created.getTime())

  return (
    <li
      className={`flex gap-3 px-4 py-4 sm:px-5 ${notification.read ? '' : 'bg-primary/[0.04]'}`}
      data-testid="notification-item"
      data-seq={notification.seq}
      data-read={notification.read ? 'true' : 'false'}
    >
      <span className="mt-1.5 flex size-2.5 shrink-0" aria-hidden="true">
        {!notification.read && <span className="size-2.5 rounded-full bg-primary" />}
      </span>
      <div className="min-w-0 flex-1">
        <p className={`break-words ${notification.read ? 'font-medium text-muted' : 'font-semibold'}`} data-testid="notification-title">
          {!notification.read && <span className="sr-only">Unread: </span>}
          {title}
        </p>
        {body && <p className="mt-1 text-sm break-words text-muted" data-testid="notification-body">{body}</p>}
        {validDate && (
          <time className="mt-1.5 block text-xs text-muted" dateTime={notification.createdAt} title={formatDateTime(created)}>
            {formatRelative(created)}
          </time>
        )}
      </div>
      {!notification.read && (
        <button
          type="button"
          className="flex shrink-0 items-center gap-1.5 self-start rounded-lg border border-border bg-background px-2.5 py-1.5 text-xs font-semibold text-foreground transition-colors hover:border-secondary/60 disabled:opacity-60"
          onClick={() =>
            markRead.mutate(notification.id, {
              onError: (err) => push({ title: 'Could not mark as read', body: errorMessage(err), tone: 'error' }),
            })
          }
          disabled={markRead.isPending}
          data-testid="mark-read"
        >
          <CheckIcon className="size-3.5" />
          <span>
            Mark read<span className="sr-only">: {title}</span>
          </span>
        </button>
      )}
    </li>
  )
}

export function NotificationsPage() {
  const { search } = useLocation()
  const requested = Number.parseInt(search.get('page') ?? '1', 10)
  const page = Number.isSafeInteger(requested) && requested > 0 ? requested : 1
  const list = useNotificationPage(page)
  const unread = useUnreadCount()
  const markAll = useMarkAllRead()
  const { push } = useToasts()

  const data = list.data
  const total = data?.total ?? 0
  const pages = Math.max(1, Math.ceil(total / NOTIFICATIONS_PER_PAGE))
  const first = total === 0 ? 0 : (page - 1) * NOTIFICATIONS_PER_PAGE + 1
  const last = Math.min(total, page * NOTIFICATIONS_PER_PAGE)
  const unreadCount = typeof unread.data === 'number' ? unread.data : null

  return (
    <div className="mx-auto max-w-3xl px-4 py-10 sm:px-6 sm:py-14">
      <div className="flex flex-wrap items-end justify-between gap-4">
        <div>
          <h1 className="text-2xl font-bold tracking-tight sm:text-3xl">Notifications</h1>
          <p className="mt-1 flex flex-wrap items-center gap-2 text-sm text-muted">
            <span data-testid="unread-summary">
              {unreadCount === null
                ? unread.isError
                  ? 'Unread count unavailable'
                  : 'Loading…'
                : unreadCount === 0
                  ? 'All caught up'
                  : `${unreadCount} unread`}
            </span>
            <LiveIndicator />
          </p>
        </div>
        <button
          type="button"
          className="btn-secondary"
          onClick={() =>
            markAll.mutate(undefined, {
              onError: (err) => push({ title: 'Could not mark all as read', body: errorMessage(err), tone: 'error' }),
            })
          }
          disabled={markAll.isPending || unreadCount === 0 || unreadCount === null}
          data-testid="mark-all-read"
        >
          {markAll.isPending ? <SpinnerIcon className="size-4" /> : <CheckAllIcon className="size-4" />}
          Mark all read
        </button>
      </div>

      <section aria-label="Notification list" className="mt-6 overflow-hidden rounded-2xl border border-border bg-surface shadow-sm">
        {list.isPending ? (
          <ul aria-hidden="true" className="divide-y divide-border">
            {[0, 1, 2].map((i) => (
              <li key={i} className="px-5 py-4">
                <div className="h-4 w-2/3 animate-pulse rounded bg-border/70" />
                <div className="mt-2 h-3 w-1/3 animate-pulse rounded bg-border/50" />
              </li>
            ))}
          </ul>
        ) : list.isError && !data ? (
          <div className="flex flex-col items-center px-6 py-14 text-center" role="alert" data-testid="notifications-error">
            <AlertIcon className="size-8 text-error" />
            <p className="mt-3 font-semibold">Notifications could not be loaded</p>
            <p className="mt-1 text-sm text-muted">{errorMessage(list.error)}</p>
            <button type="button" className="btn-secondary mt-5" onClick={() => void list.refetch()}>
              Try again
            </button>
          </div>
        ) : data && data.notifications.length > 0 ? (
          <ul className="divide-y divide-border" data-testid="notification-list" aria-busy={list.isFetching}>
            {data.notifications.map((n) => (
              <NotificationRow key={n.seq} notification={n} />
            ))}
          </ul>
        ) : (
          <div className="flex flex-col items-center px-6 py-16 text-center" data-testid="notifications-empty">
            <div className="flex-center size-12 rounded-2xl bg-primary/10 text-primary-dark dark:text-primary">
              <InboxIcon className="size-6" />
            </div>
            <p className="mt-4 font-semibold">{page > 1 ? 'Nothing on this page' : 'No notifications yet'}</p>
            <p className="mt-1 max-w-sm text-sm text-muted">
              {page > 1 ? (
                <Link href="/notifications" className="font-semibold text-primary-dark underline-offset-4 hover:underline dark:text-primary">
                  Go to the first page
                </Link>
              ) : (
                'When something happens on your account it shows up here right away, no reload needed.'
              )}
            </p>
          </div>
        )}
      </section>

      {total > 0 && (
        <nav aria-label="Pagination" className="mt-5 flex flex-wrap items-center justify-between gap-3 text-sm">
          <p className="text-muted" data-testid="pagination-summary">
            {first}–{last} of {total}
          </p>
          <div className="flex items-center gap-2">
            {page > 1 ? (
              <Link href={page === 2 ? '/notifications' : `/notifications?page=${page - 1}`} className="btn-secondary" data-testid="page-prev" rel="prev">
                <ChevronLeftIcon className="size-4" />
                Newer
              </Link>
            ) : (
              <span className="btn-secondary pointer-events-none opacity-50" aria-disabled="true">
                <ChevronLeftIcon className="size-4" />
                Newer
              </span>
            )}
            <span className="px-1 text-muted tabular-nums">
              Page {page} of {pages}
            </span>
            {page < pages ? (
              <Link href={`/notifications?page=${page + 1}`} className="btn-secondary" data-testid="page-next" rel="next">
                Older
                <ChevronRightIcon className="size-4" />
              </Link>
            ) : (
              <span className="btn-secondary pointer-events-none opacity-50" aria-disabled="true">
                Older
                <ChevronRightIcon className="size-4" />
              </span>
            )}
          </div>
        </nav>
      )}
    </div>
  )
}
