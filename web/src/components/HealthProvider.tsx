import type { ReactNode } from 'react'
import { HealthContext, useHealthPolling } from '../hooks/useHealth'

/** Runs a single health poller for the whole app and shares its state. */
export function HealthProvider({ children }: { children: ReactNode }) {
  const health = useHealthPolling()
  return <HealthContext.Provider value={health}>{children}</HealthContext.Provider>
}
