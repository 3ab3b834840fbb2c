/**
 * Who is signed in. The session lives in HttpOnly cookies; this asks
 * `/auth/session` (refreshing the access token when it expired) and keeps
 * every tab in agreement through a BroadcastChannel.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { createContext, useCallback, useContext, useEffect, useMemo, type ReactNode } from 'react'
import { fetchSession, logout, type SessionInfo, type User } from '../lib/auth'
import { onSessionLost } from '../lib/http'
import { queryKeys } from '../lib/queryClient'

export type AuthStatus = 'loading' | 'signed_in' | 'signed_out' | 'unknown'

export interface AuthState {
  status: AuthStatus
  user: User | null
  session: SessionInfo['session'] | null
  /** Re-read the session after signing in. */
  refetch: () => Promise<void>
  signOut: (everywhere?: boolean) => Promise<void>
}

const AuthContext = createContext<AuthState | null>(null)

const CHANNEL = 'qd-auth'
type AuthMessage = 'signed-in' | 'signed-out'

function broadcast(message: AuthMessage): void {
  if (typeof BroadcastChannel === 'undefined') return
  const channel = new BroadcastChannel(CHANNEL)
  channel.postMessage(message)
  channel.close()
}

/** Tell other tabs that this one signed in (they re-read the session). */
export function announceSignIn(): void {
  broadcast('signed-in')
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient()
  const query = useQuery({
    queryKey: queryKeys.session,
    queryFn: fetchSession,
    staleTime: 60_000,
    // Server unreachable at load: keep asking until it answers.
    refetchInterval: (q) => (q.state.status === 'error' ? 5_000 : false),
  })

  const markSignedOut = useCallback(() => {
    queryClient.removeQueries({ queryKey: queryKeys.notifications })
    queryClient.removeQueries({ queryKey: queryKeys.adminJobs })
    queryClient.setQueryData(queryKeys.session, null)
  }, [queryClient])

  useEffect(() => onSessionLost(markSignedOut), [markSignedOut])

  useEffect(() => {
    if (typeof BroadcastChannel === 'undefined') return
    const channel = new BroadcastChannel(CHANNEL)
    channel.onmessage = (event: MessageEvent<AuthMessage>) => {
      if (event.data === 'signed-out') markSignedOut()
      else void queryClient.invalidateQueries({ queryKey: queryKeys.session })
    }
    return () => channel.close()
  }, [markSignedOut, queryClient])

  const signOut = useCallback(
    async (everywhere = false) => {
      await logout(everywhere)
      markSignedOut()
      broadcast('signed-out')
    },
    [markSignedOut],
  )

  const refetch = useCallback(async () => {
    await queryClient.invalidateQueries({ queryKey: queryKeys.session })
    await queryClient.refetchQueries({ queryKey: queryKeys.session })
  }, [queryClient])

  const data = query.data
  let status: AuthStatus
  if (data) status = 'signed_in'
  else if (data === null) status = 'signed_out'
  else if (query.isError) status = 'unknown'
  else status = 'loading'

  const value = useMemo<AuthState>(
    () => ({ status, user: data?.user ?? null, session: data?.session ?? null, refetch, signOut }),
    [status, data, refetch, signOut],
  )
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>
}

export function useAuth(): AuthState {
  const value = useContext(AuthContext)
  if (!value) throw new Error('useAuth must be used inside <AuthProvider>')
  return value
}
