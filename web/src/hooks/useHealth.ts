import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react'
import { checkHealth, type HealthSnapshot, type OverallStatus } from '../lib/api'

export const HEALTH_POLL_INTERVAL_MS = 5000

export interface HealthState {
  /** `loading` until the first check completes. */
  status: OverallStatus | 'loading'
  snapshot: HealthSnapshot | null
  /** Last version the server reported; kept while it is unreachable. */
  version: string | null
  isFetching: boolean
  intervalMs: number
  refresh: () => void
}

/**
 * Poll `/health` and `/health/ready` every `intervalMs`, and immediately when
 * the window regains focus or the tab becomes visible again. Polling pauses
 * while the tab is hidden. Requests never overlap.
 */
export function useHealthPolling(intervalMs: number = HEALTH_POLL_INTERVAL_MS): HealthState {
  const [snapshot, setSnapshot] = useState<HealthSnapshot | null>(null)
  const [version, setVersion] = useState<string | null>(null)
  const [isFetching, setIsFetching] = useState(false)
  const refreshRef = useRef<() => void>(() => {})

  useEffect(() => {
    let disposed = false
    let timer: ReturnType<typeof setTimeout> | undefined
    let inFlight: AbortController | null = null

    const schedule = () => {
      clearTimeout(timer)
      if (!disposed) timer = setTimeout(() => void tick(), intervalMs)
    }

    const tick = async () => {
      if (disposed || inFlight) return
      clearTimeout(timer)
      if (document.visibilityState === 'hidden') {
        schedule()
        return
      }
      const controller = new AbortController()
      inFlight = controller
      setIsFetching(true)
      try {
        const next = await checkHealth(controller.signal)
        if (disposed) return
        setSnapshot(next)
        if (next.version) setVersion(next.version)
      } finally {
        inFlight = null
        if (!disposed) {
          setIsFetching(false)
          schedule()
        }
      }
    }

    const onFocus = () => void tick()
    const onVisibilityChange = () => {
      if (document.visibilityState === 'visible') void tick()
    }

    refreshRef.current = () => void tick()
    window.addEventListener('focus', onFocus)
    document.addEventListener('visibilitychange', onVisibilityChange)
    void tick()

    return () => {
      disposed = true
      clearTimeout(timer)
      inFlight?.abort()
      window.removeEventListener('focus', onFocus)
      document.removeEventListener('visibilitychange', onVisibilityChange)
    }
  }, [intervalMs])

  const refresh = useCallback(() => refreshRef.current(), [])

  return {
    status: snapshot?.status ?? 'loading',
    snapshot,
    version,
    isFetching,
    intervalMs,
    refresh,
  }
}

export const HealthContext = createContext<HealthState | null>(null)

/** Read the app-wide health state provided by `<HealthProvider>`. */
export function useHealth(): HealthState {
  const value = useContext(HealthContext)
  if (!value) throw new Error('useHealth must be used inside <HealthProvider>')
  return value
}
