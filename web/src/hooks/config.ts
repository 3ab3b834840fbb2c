import { useQuery } from '@tanstack/react-query'
import { FALLBACK_CONFIG, fetchConfig, type ClientConfig } from '../lib/config'
import { queryKeys } from '../lib/queryClient'

/** The server's public client configuration (`/api/config`), with safe defaults while loading. */
export function useConfig(): { config: ClientConfig; isLoading: boolean } {
  const query = useQuery({ queryKey: queryKeys.config, queryFn: fetchConfig, staleTime: Infinity })
  return { config: query.data ?? FALLBACK_CONFIG, isLoading: query.isPending }
}
