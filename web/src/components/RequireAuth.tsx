import type { ReactNode } from 'react'
import { useAuth } from '../hooks/auth'
import { Link, useLocation } from '../lib/router'
import { AlertIcon, SpinnerIcon, WalletIcon } from './icons'

/** Shows `children` to a signed-in user; otherwise a sign-in prompt (or a loading / offline state). */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { status, refetch } = useAuth()
  const { path, search } = useLocation()

  if (status === 'signed_in') return <>{children}</>

  if (status === 'loading') {
    return (
      <div className="flex-center gap-3 px-4 py-24 text-muted" role="status">
        <SpinnerIcon className="size-5" />
        Checking your session…
      </div>
    )
  }

  if (status === 'unknown') {
    return (
      <div className="mx-auto max-w-md px-4 py-20 text-center sm:px-6">
        <div className="card">
          <AlertIcon className="mx-auto size-8 text-warning" />
          <h1 className="mt-3 text-xl font-bold">Can’t reach the server</h1>
          <p className="mt-2 text-sm text-muted">Your session could not be checked. It will be retried automatically.</p>
          <button type="button" className="btn-secondary mt-6" onClick={() => void refetch()}>
            Try again
          </button>
        </div>
      </div>
    )
  }

  const query = search.toString()
  const next = encodeURIComponent(query ? `${path}?${query}` : path)
  return (
    <div className="mx-auto max-w-md px-4 py-20 text-center sm:px-6" data-testid="signin-required">
      <div className="card">
        <div className="flex-center mx-auto size-12 rounded-2xl bg-primary/10 text-primary-dark dark:text-primary">
          <WalletIcon className="size-6" />
        </div>
        <h1 className="mt-4 text-xl font-bold">Sign in to continue</h1>
        <p className="mt-2 text-sm text-muted">This page shows your own data. Sign in with your Ethereum wallet to see it.</p>
        <Link href={`/signin?next=${next}`} className="btn-primary mt-6">
          Sign in with wallet
        </Link>
      </div>
    </div>
  )
}
