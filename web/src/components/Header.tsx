import { useAuth } from '../hooks/auth'
import { useLive } from '../hooks/live'
import { useUnreadCount } from '../hooks/notifications'
import { Link, useLocation } from '../lib/router'
import { shortAddress } from '../lib/wallet'
import { BellIcon, UserIcon } from './icons'

interface NavItem {
  href: string
  label: string
  testId: string
  auth?: boolean
}

const NAV: NavItem[] = [
  { href: '/notifications', label: 'Notifications', testId: 'nav-notifications', auth: true },
  { href: '/account', label: 'Account', testId: 'nav-account', auth: true },
  { href: '/status', label: 'Status', testId: 'nav-status' },
]

function UnreadBell() {
  const { data: count } = useUnreadCount()
  const live = useLive()
  const { path } = useLocation()
  const unread = typeof count === 'number' ? count : 0
  const label = unread === 0 ? 'Notifications, none unread' : `Notifications, ${unread} unread`
  return (
    <Link
      href="/notifications"
      className="relative flex-center size-10 rounded-lg text-muted transition-colors hover:bg-border/50 hover:text-foreground"
      aria-label={label}
      aria-current={path === '/notifications' ? 'page' : undefined}
      title={live.status === 'open' ? 'Live updates on' : 'Connecting to live updates…'}
      data-testid="header-bell"
    >
      <BellIcon className="size-5" />
      {unread > 0 && (
        <span
          className="absolute -top-0.5 -right-0.5 flex h-5 min-w-5 items-center justify-center rounded-full bg-error px-1 text-[11px] leading-none font-bold text-white ring-2 ring-background tabular-nums"
          data-testid="unread-badge"
          aria-hidden="true"
        >
          {unread > 99 ? '99+' : unread}
        </span>
      )}
      <span
        className={`absolute right-1 bottom-1 size-2 rounded-full ring-2 ring-background ${live.status === 'open' ? 'bg-success' : 'bg-secondary/60'}`}
        data-testid="live-dot"
        data-status={live.status}
        aria-hidden="true"
      />
    </Link>
  )
}

export function Header() {
  const { status, user } = useAuth()
  const { path } = useLocation()
  const signedIn = status === 'signed_in'
  const items = NAV.filter((item) => !item.auth || signedIn)

  const nav = (className: string) => (
    <nav aria-label="Main" className={className}>
      <ul className="flex items-center gap-1">
        {items.map((item) => {
          const current = path === item.href
          return (
            <li key={item.href}>
              <Link
                href={item.href}
                data-testid={item.testId}
                aria-current={current ? 'page' : undefined}
                className={`block rounded-lg px-3 py-2 text-sm font-medium transition-colors ${current ? 'bg-primary/10 text-primary-dark dark:text-primary' : 'text-muted hover:bg-border/50 hover:text-foreground'}`}
              >
                {item.label}
              </Link>
            </li>
          )
        })}
      </ul>
    </nav>
  )

  return (
    <header className="sticky top-0 z-40 border-b border-border/70 bg-background/85 backdrop-blur supports-[backdrop-filter]:bg-background/70">
      <div className="mx-auto flex max-w-6xl items-center justify-between gap-3 px-4 py-2.5 sm:px-6">
        <div className="flex min-w-0 items-center gap-6">
          <Link href="/" className="flex shrink-0 items-center gap-2.5 rounded-lg" aria-label="QuickDapp home">
            <img src="/favicon.svg" alt="" width={32} height={32} className="size-8" />
            <span className="text-lg font-bold tracking-tight">QuickDapp</span>
          </Link>
          {nav('hidden md:block')}
        </div>

        <div className="flex items-center gap-2">
          {signedIn && <UnreadBell />}
          {signedIn && user ? (
            <Link
              href="/account"
              className="flex items-center gap-2 rounded-lg border border-border bg-surface px-2.5 py-1.5 font-mono text-xs text-foreground transition-colors hover:border-secondary/60"
              data-testid="header-account"
              title={user.wallet}
            >
              <UserIcon className="size-4 text-muted" />
              <span className="sr-only">Signed in as </span>
              <span data-testid="header-wallet">{shortAddress(user.wallet)}</span>
            </Link>
          ) : status === 'loading' ? (
            <span className="h-9 w-24 animate-pulse rounded-lg bg-border/60" aria-hidden="true" />
          ) : (
            path !== '/signin' && (
              <Link href={`/signin${path !== '/' ? `?next=${encodeURIComponent(path)}` : ''}`} className="btn-primary" data-testid="header-signin">
                Sign in
              </Link>
            )
          )}
        </div>
      </div>
      {nav('border-t border-border/60 px-2 py-1 md:hidden overflow-x-auto')}
    </header>
  )
}
