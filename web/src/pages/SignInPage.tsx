import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react'
import { CheckIcon, AlertIcon, SpinnerIcon, WalletIcon } from '../components/icons'
import { announceSignIn, useAuth } from '../hooks/auth'
import { useConfig } from '../hooks/config'
import { describeAuthError } from '../lib/auth'
import { ApiError, NetworkError } from '../lib/http'
import { Link, navigate, safeNext, useLocation } from '../lib/router'
import { SiweInputError } from '../lib/siwe'
import { signInWithWallet } from '../lib/signin'
import {
  chainList,
  chainName,
  currentAccount,
  getInjectedProvider,
  parseChainId,
  readChainId,
  requestAccount,
  shortAddress,
  switchChain,
  toWalletError,
  WalletError,
  type Eip1193Provider,
} from '../lib/wallet'

type Phase = 'idle' | 'connecting' | 'switching' | 'signing' | 'verifying'

interface Problem {
  /** `wallet.<kind>` or the server's `auth.*` code. */
  code: string
  title: string
  message: string
}

function describeProblem(err: unknown, chainIds: number[]): Problem {
  if (err instanceof WalletError) {
    const titles: Record<string, string> = {
      rejected: 'Request rejected',
      pending: 'Wallet busy',
      unknown_chain: 'Network not in your wallet',
      no_account: 'No account shared',
      no_wallet: 'No wallet found',
      failed: 'Wallet error',
    }
    const message =
      err.kind === 'rejected'
        ? 'You declined the request in your wallet. Nothing was signed; you can try again whenever you are ready.'
        : err.message
    return { code: `wallet.${err.kind}`, title: titles[err.kind] ?? 'Wallet error', message }
  }
  if (err instanceof ApiError) {
    return { code: err.code, title: 'Sign-in failed', message: describeAuthError(err, chainList, chainIds) }
  }
  if (err instanceof NetworkError) {
    return { code: 'network', title: 'Server unreachable', message: 'The server could not be reached. Check your connection and try again.' }
  }
  if (err instanceof SiweInputError) {
    return { code: 'siwe.input', title: 'Sign-in failed', message: err.message }
  }
  return { code: 'unknown', title: 'Sign-in failed', message: err instanceof Error ? err.message : 'Something went wrong.' }
}

function Step({ n, title, done, active, children }: { n: number; title: string; done: boolean; active: boolean; children?: ReactNode }) {
  return (
    <li className="flex gap-4">
      <span
        className={`flex-center size-8 shrink-0 rounded-full text-sm font-bold ${done ? 'bg-success text-white' : active ? 'bg-primary-dark text-white' : 'border border-border bg-background text-muted'}`}
        aria-hidden="true"
      >
        {done ? <CheckIcon className="size-4" /> : n}
      </span>
      <div className="min-w-0 flex-1 pb-1">
        <p className={`font-semibold ${active || done ? '' : 'text-muted'}`}>
          {title}
          {done && <span className="sr-only"> (done)</span>}
        </p>
        {children}
      </div>
    </li>
  )
}

export function SignInPage() {
  const { status, user, refetch } = useAuth()
  const { config } = useConfig()
  const { search } = useLocation()
  const next = safeNext(search.get('next'))

  const [provider, setProvider] = useState<Eip1193Provider | null>(() => getInjectedProvider())
  const [account, setAccount] = useState<string | null>(null)
  const [chainId, setChainId] = useState<number | null>(null)
  const [phase, setPhase] = useState<Phase>('idle')
  const [problem, setProblem] = useState<Problem | null>(null)
  const errorRef = useRef<HTMLDivElement>(null)

  const allowed = config.chainIds
  const wrongChain = chainId !== null && allowed.length > 0 && !allowed.includes(chainId)
  const targetChain = config.defaultChainId ?? allowed[0] ?? 1
  const busy = phase !== 'idle'

  // Wallets may inject after the page loaded; look again shortly after.
  useEffect(() => {
    if (provider) return
    const onInit = () => setProvider(getInjectedProvider())
    window.addEventListener('ethereum#initialized', onInit, { once: true })
    const timer = setTimeout(onInit, 1000)
    return () => {
      window.removeEventListener('ethereum#initialized', onInit)
      clearTimeout(timer)
    }
  }, [provider])

  // Pick up an already-connected account and follow account / network changes.
  useEffect(() => {
    if (!provider) return
    let cancelled = false
    void currentAccount(provider).then(async (acct) => {
      if (cancelled || !acct) return
      setAccount(acct)
      try {
        const id = await readChainId(provider)
        if (!cancelled) setChainId(id)
      } catch {
        // asked again on connect
      }
    })
    const onAccounts = (accounts: unknown) => {
      const first = Array.isArray(accounts) && typeof accounts[0] === 'string' ? accounts[0] : null
      setAccount(first)
      setProblem(null)
    }
    const onChain = (id: unknown) => {
      setChainId(parseChainId(id))
      setProblem(null)
    }
    provider.on?.('accountsChanged', onAccounts)
    provider.on?.('chainChanged', onChain)
    return () => {
      cancelled = true
      provider.removeListener?.('accountsChanged', onAccounts)
      provider.removeListener?.('chainChanged', onChain)
    }
  }, [provider])

  useEffect(() => {
    if (problem) errorRef.current?.focus()
  }, [problem])

  const fail = useCallback(
    (err: unknown) => {
      setProblem(describeProblem(err, allowed))
      setPhase('idle')
    },
    [allowed],
  )

  const connect = async () => {
    if (!provider) return
    setProblem(null)
    setPhase('connecting')
    try {
      const acct = await requestAccount(provider)
      const id = await readChainId(provider)
      setAccount(acct)
      setChainId(id)
      setPhase('idle')
    } catch (err) {
      fail(toWalletError(err))
    }
  }

  const doSwitch = async (id: number) => {
    if (!provider) return
    setProblem(null)
    setPhase('switching')
    try {
      await switchChain(provider, id)
      setChainId(await readChainId(provider))
      setPhase('idle')
    } catch (err) {
      fail(err)
    }
  }

  const signIn = async () => {
    if (!provider || !account || chainId === null) return
    setProblem(null)
    setPhase('signing')
    try {
      // The wallet may have switched networks since we last asked.
      const id = await readChainId(provider)
      setChainId(id)
      if (allowed.length > 0 && !allowed.includes(id)) {
        setPhase('idle')
        return
      }
      await signInWithWallet({ provider, address: account, chainId: id, appName: config.appName })
      setPhase('verifying')
      await refetch()
      announceSignIn()
      navigate(next, { replace: true })
    } catch (err) {
      fail(err)
    }
  }

  if (status === 'signed_in' && user && phase === 'idle') {
    return (
      <div className="mx-auto max-w-lg px-4 py-16 sm:px-6 sm:py-24">
        <div className="card text-center" data-testid="signin-done">
          <div className="flex-center mx-auto size-12 rounded-2xl bg-success/15 text-success">
            <CheckIcon className="size-6" />
          </div>
          <h1 className="mt-4 text-2xl font-bold tracking-tight">You’re signed in</h1>
          <p className="mt-2 text-sm break-all text-muted">
            as <span className="font-mono text-foreground">{user.wallet}</span>
          </p>
          <div className="mt-6 flex flex-wrap justify-center gap-3">
            <Link href={next} className="btn-primary">
              Continue
            </Link>
            <Link href="/account" className="btn-secondary">
              Account
            </Link>
          </div>
        </div>
      </div>
    )
  }

  const connected = account !== null && chainId !== null

  return (
    <div className="mx-auto max-w-lg px-4 py-12 sm:px-6 sm:py-20">
      <div className="text-center">
        <div className="flex-center mx-auto size-12 rounded-2xl bg-primary/10 text-primary-dark dark:text-primary">
          <WalletIcon className="size-6" />
        </div>
        <h1 className="mt-4 text-2xl font-bold tracking-tight sm:text-3xl">Sign in with Ethereum</h1>
        <p className="mt-2 text-sm text-pretty text-muted">
          Prove you own your wallet by signing a one-time message. Signing is free: no transaction, no gas.
        </p>
      </div>

      <div className="card mt-8">
        {problem && (
          <div
            ref={errorRef}
            tabIndex={-1}
            role="alert"
            className="mb-6 flex gap-3 rounded-xl border border-error/30 bg-error/5 p-4 text-sm focus:outline-none"
            data-testid="signin-error"
            data-code={problem.code}
          >
            <AlertIcon className="mt-0.5 size-5 shrink-0 text-error" />
            <div>
              <p className="font-semibold text-red-800 dark:text-red-300">{problem.title}</p>
              <p className="mt-1 text-red-800/90 dark:text-red-200/90">{problem.message}</p>
            </div>
          </div>
        )}

        {!provider ? (
          <div className="text-center" data-testid="signin-no-wallet">
            <h2 className="text-lg font-semibold">No wallet found</h2>
            <p className="mt-2 text-sm text-muted">
              Signing in needs an Ethereum wallet in your browser, such as a wallet browser extension or the browser
              built into a mobile wallet app. Install or enable one, then check again.
            </p>
            <button type="button" className="btn-secondary mt-5" onClick={() => setProvider(getInjectedProvider())}>
              Check again
            </button>
          </div>
        ) : (
          <ol className="space-y-6">
            <Step n={1} title="Connect your wallet" done={connected} active={!connected}>
              {connected ? (
                <p className="mt-1 text-sm text-muted">
                  <span className="font-mono text-foreground" data-testid="signin-account" title={account}>
                    {shortAddress(account)}
                  </span>{' '}
                  on{' '}
                  <span data-testid="signin-chain" data-chain-id={chainId}>
                    {chainName(chainId)}
                  </span>
                </p>
              ) : (
                <>
                  <p className="mt-1 text-sm text-muted">Your wallet will ask which account to share with this site.</p>
                  <button type="button" className="btn-primary mt-3" onClick={() => void connect()} disabled={busy} data-testid="connect-wallet">
                    {phase === 'connecting' && <SpinnerIcon className="size-4" />}
                    {phase === 'connecting' ? 'Waiting for wallet…' : 'Connect wallet'}
                  </button>
                </>
              )}
            </Step>

            <Step n={2} title="Sign the message" done={false} active={connected && !wrongChain}>
              {connected && wrongChain ? (
                <div className="mt-2 rounded-xl border border-warning/40 bg-warning/10 p-4 text-sm" role="alert" data-testid="signin-wrong-chain">
                  <p className="font-semibold text-amber-900 dark:text-amber-200">Wrong network</p>
                  <p className="mt-1 text-amber-900/90 dark:text-amber-100/90">
                    Your wallet is on {chainName(chainId)}. Sign-in works on {chainList(allowed)}.
                  </p>
                  <button type="button" className="btn-primary mt-3" onClick={() => void doSwitch(targetChain)} disabled={busy} data-testid="switch-chain">
                    {phase === 'switching' && <SpinnerIcon className="size-4" />}
                    Switch to {chainName(targetChain)}
                  </button>
                </div>
              ) : (
                <>
                  <p className="mt-1 text-sm text-muted">
                    Your wallet shows a message naming this site ({window.location.host}) and a one-time code.
                  </p>
                  <button
                    type="button"
                    className="btn-primary mt-3"
                    onClick={() => void signIn()}
                    disabled={!connected || busy}
                    data-testid="sign-in"
                  >
                    {(phase === 'signing' || phase === 'verifying') && <SpinnerIcon className="size-4" />}
                    {phase === 'signing' ? 'Check your wallet…' : phase === 'verifying' ? 'Signing you in…' : 'Sign in'}
                  </button>
                </>
              )}
            </Step>
          </ol>
        )}
      </div>
      <p className="mt-6 text-center text-xs text-muted">
        Signing in creates a session on this device only. You can end it, or every session, from your account page.
      </p>
    </div>
  )
}
