import { useState } from 'react'
import { Badge } from '../components/Badge'
import { CheckIcon, CopyIcon, LogOutIcon, SpinnerIcon } from '../components/icons'
import { useToasts } from '../components/Toaster'
import { useAuth } from '../hooks/auth'
import { formatDateTime, formatRelative } from '../lib/format'
import { errorMessage } from '../lib/http'
import { navigate } from '../lib/router'

function CopyButton({ value }: { value: string }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value)
      setCopied(true)
      setTimeout(() => setCopied(false), 1500)
    } catch {
      // Clipboard unavailable (insecure context): the address is selectable anyway.
    }
  }
  return (
    <button
      type="button"
      onClick={() => void copy()}
      className="flex-center size-8 shrink-0 rounded-lg border border-border bg-background text-muted transition-colors hover:text-foreground"
      aria-label={copied ? 'Address copied' : 'Copy address'}
      title={copied ? 'Copied' : 'Copy address'}
    >
      {copied ? <CheckIcon className="size-4 text-success" /> : <CopyIcon className="size-4" />}
    </button>
  )
}

function DateValue({ iso, testId }: { iso: string; testId: string }) {
  const date = new Date(iso)
  if (Number.isNaN(date.getTime())) return <span data-testid={testId}>{iso}</span>
  return (
    <time dateTime={iso} data-testid={testId} title={iso}>
      {formatDateTime(date)} <span className="text-muted">({formatRelative(date)})</span>
    </time>
  )
}

export function AccountPage() {
  const { user, session, signOut } = useAuth()
  const { push } = useToasts()
  const [pending, setPending] = useState<'one' | 'all' | null>(null)
  const [confirmAll, setConfirmAll] = useState(false)

  if (!user || !session) return null

  const run = async (everywhere: boolean) => {
    setPending(everywhere ? 'all' : 'one')
    try {
      await signOut(everywhere)
      navigate('/', { replace: true })
      push({
        title: everywhere ? 'Signed out everywhere' : 'Signed out',
        body: everywhere ? 'Every session of this wallet has ended.' : null,
        tone: 'success',
      })
    } catch (err) {
      setPending(null)
      push({ title: 'Sign-out failed', body: errorMessage(err), tone: 'error' })
    }
  }

  return (
    <div className="mx-auto max-w-3xl px-4 py-10 sm:px-6 sm:py-14">
      <h1 className="text-2xl font-bold tracking-tight sm:text-3xl">Account</h1>
      <p className="mt-1 text-sm text-muted">Your wallet and this device’s session.</p>

      <section aria-labelledby="wallet-title" className="card mt-6">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <h2 id="wallet-title" className="font-semibold">
            Wallet
          </h2>
          {user.isAdmin && (
            <Badge tone="warning" data-testid="admin-badge">
              Admin
            </Badge>
          )}
        </div>
        <div className="mt-3 flex items-center gap-2 rounded-xl border border-border bg-background p-3">
          <code className="min-w-0 flex-1 font-mono text-sm break-all" data-testid="account-wallet">
            {user.wallet}
          </code>
          <CopyButton value={user.wallet} />
        </div>
        <dl className="mt-4 grid gap-4 text-sm sm:grid-cols-2">
          <div>
            <dt className="text-muted">User id</dt>
            <dd className="mt-0.5 font-mono" data-testid="account-user-id">
              {user.id}
            </dd>
          </div>
          <div>
            <dt className="text-muted">Role</dt>
            <dd className="mt-0.5">{user.isAdmin ? 'Administrator' : 'Member'}</dd>
          </div>
        </dl>
      </section>

      <section aria-labelledby="session-title" className="card mt-4">
        <h2 id="session-title" className="font-semibold">
          This session
        </h2>
        <dl className="mt-3 grid gap-4 text-sm sm:grid-cols-2">
          <div>
            <dt className="text-muted">Signed in</dt>
            <dd className="mt-0.5">
              <DateValue iso={session.createdAt} testId="session-created" />
            </dd>
          </div>
          <div>
            <dt className="text-muted">Expires</dt>
            <dd className="mt-0.5">
              <DateValue iso={session.expiresAt} testId="session-expires" />
            </dd>
          </div>
          <div className="sm:col-span-2">
            <dt className="text-muted">Session id</dt>
            <dd className="mt-0.5 font-mono text-xs break-all text-muted">{session.id}</dd>
          </div>
        </dl>
        <p className="mt-4 text-xs text-muted">
          You stay signed in on this device until the session expires or you sign out; access is renewed in the
          background.
        </p>
      </section>

      <section aria-labelledby="signout-title" className="card mt-4">
        <h2 id="signout-title" className="font-semibold">
          Sign out
        </h2>
        <p className="mt-1 text-sm text-muted">
          Sign out here, or end every session of this wallet on all devices and browsers.
        </p>
        <div className="mt-4 flex flex-wrap gap-3">
          <button type="button" className="btn-primary" onClick={() => void run(false)} disabled={pending !== null} data-testid="sign-out">
            {pending === 'one' ? <SpinnerIcon className="size-4" /> : <LogOutIcon className="size-4" />}
            Sign out
          </button>
          {!confirmAll ? (
            <button type="button" className="btn-secondary" onClick={() => setConfirmAll(true)} disabled={pending !== null} data-testid="sign-out-everywhere">
              Sign out everywhere…
            </button>
          ) : (
            <div className="flex w-full flex-wrap items-center gap-3 rounded-xl border border-error/30 bg-error/5 p-3 text-sm" role="group" aria-label="Confirm sign out everywhere">
              <p className="min-w-0 flex-1 text-red-800 dark:text-red-300">End every session, including this one?</p>
              <button type="button" className="btn-secondary" onClick={() => setConfirmAll(false)} disabled={pending !== null}>
                Cancel
              </button>
              <button
                type="button"
                className="btn-danger"
                onClick={() => void run(true)}
                disabled={pending !== null}
                data-testid="confirm-sign-out-everywhere"
                autoFocus
              >
                {pending === 'all' && <SpinnerIcon className="size-4" />}
                Sign out everywhere
              </button>
            </div>
          )}
        </div>
      </section>
    </div>
  )
}
