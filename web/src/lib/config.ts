/** The public client configuration the server publishes at `/api/config` (never secrets). */
import { requestJson } from './http'

export interface ClientConfig {
  appName: string
  version: string
  appMode: string
  baseUrl: string
  chainIds: number[]
  defaultChainId: number | null
}

export const FALLBACK_CONFIG: ClientConfig = {
  appName: 'QuickDapp',
  version: '',
  appMode: 'production',
  baseUrl: '',
  chainIds: [1],
  defaultChainId: 1,
}

export async function fetchConfig(): Promise<ClientConfig> {
  const raw = await requestJson<Partial<ClientConfig>>('/api/config', { refresh: false })
  const chainIds = Array.isArray(raw.chainIds)
    ? raw.chainIds.filter((id): id is number => typeof id === 'number' && Number.isSafeInteger(id))
    : FALLBACK_CONFIG.chainIds
  return {
    appName: typeof raw.appName === 'string' && raw.appName ? raw.appName : FALLBACK_CONFIG.appName,
    version: typeof raw.version === 'string' ? raw.version : '',
    appMode: typeof raw.appMode === 'string' ? raw.appMode : FALLBACK_CONFIG.appMode,
    baseUrl: typeof raw.baseUrl === 'string' ? raw.baseUrl : '',
    chainIds,
    defaultChainId: typeof raw.defaultChainId === 'number' ? raw.defaultChainId : (chainIds[0] ?? null),
  }
}
