import type { ReactNode } from 'react'
import { HealthCard } from '../components/HealthCard'
import { ArrowRightIcon, BellIcon, BoxIcon, PulseIcon, RefreshIcon, ShieldIcon, WalletIcon } from '../components/icons'
import { useAuth } from '../hooks/auth'
import { Link } from '../lib/router'

interface Feature {
  title: string
  body: string
  icon: ReactNode
}

const features: Feature[] = [
  {
    title: 'One binary',
    body: 'The API and this web app ship as a single Rust executable. No separate web server, no Node.js at runtime.',
    icon: <BoxIcon className="size-5" />,
  },
  {
    title: 'Wallet-native or SaaS',
    body: 'Build on-chain apps and classic SaaS products on the same foundation, from the same codebase.',
    icon: <WalletIcon className="size-5" />,
  },
  {
    title: 'Live notifications',
    body: 'Sign in with your wallet and see notifications arrive instantly over a WebSocket that resumes where it left off.',
    icon: <BellIcon className="size-5" />,
  },
  {
    title: 'Background jobs',
    body: 'A durable job queue with retries and schedules runs next to the API, with its status on the admin dashboard.',
    icon: <RefreshIcon className="size-5" />,
  },
  {
    title: 'Observable',
    body: 'Liveness and readiness endpoints report every dependency, ready for load balancers and orchestrators.',
    icon: <PulseIcon className="size-5" />,
  },
  {
    title: 'Secure by default',
    body: 'A strict Content Security Policy and precompressed, content-hashed assets served straight from memory.',
    icon: <ShieldIcon className="size-5" />,
  },
]

export function HomePage() {
  const { status } = useAuth()
  const signedIn = status === 'signed_in'
  return (
    <>
      <div className="mx-auto grid max-w-6xl gap-10 px-4 py-12 sm:px-6 sm:py-16 lg:grid-cols-[1.1fr_1fr] lg:items-center lg:gap-14 lg:py-24">
        <div>
          <p className="text-sm font-semibold tracking-wide text-primary-dark uppercase dark:text-primary">
            Rust · React · one deploy
          </p>
          <h1 className="mt-3 text-3xl font-bold tracking-tight text-balance sm:text-4xl lg:text-5xl">
            One fast binary for the backend and web UI of{' '}
            <span className="whitespace-nowrap">wallet-native</span> and SaaS apps
          </h1>
          <p className="mt-5 max-w-xl text-base text-pretty text-muted sm:text-lg">
            QuickDapp serves your API and this single-page app from one executable, with health
            checks, security headers and compressed assets built in. Copy one file to a server and
            run it.
          </p>
          <div className="mt-8 flex flex-wrap gap-3">
            {signedIn ? (
              <Link href="/notifications" className="btn-primary" data-testid="cta-notifications">
                Open your notifications
                <ArrowRightIcon className="size-4" />
              </Link>
            ) : (
              <Link href="/signin" className="btn-primary" data-testid="cta-signin">
                <WalletIcon className="size-4" />
                Sign in with your wallet
              </Link>
            )}
            <Link href="/status" className="btn-secondary">
              View system status
            </Link>
          </div>
        </div>

        <div id="status" className="scroll-mt-6">
          <HealthCard />
        </div>
      </div>

      <section aria-labelledby="features-title" className="border-t border-border/70 bg-surface/60">
        <div className="mx-auto max-w-6xl px-4 py-12 sm:px-6 sm:py-16">
          <h2 id="features-title" className="text-2xl font-bold tracking-tight">
            What you get
          </h2>
          <ul className="mt-8 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
            {features.map((feature) => (
              <li key={feature.title} className="card">
                <div className="flex-center size-10 rounded-xl bg-primary/10 text-primary-dark dark:text-primary">
                  {feature.icon}
                </div>
                <h3 className="mt-4 font-semibold">{feature.title}</h3>
                <p className="mt-2 text-sm text-muted">{feature.body}</p>
              </li>
            ))}
          </ul>
        </div>
      </section>
    </>
  )
}
