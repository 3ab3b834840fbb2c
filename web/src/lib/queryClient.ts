/** The app's TanStack Query client and query keys. */
import { QueryClient } from '@tanstack/react-query'
import { GraphQLRequestError } from './graphql'
import { ApiError } from './http'

export const queryKeys = {
  config: ['config'] as const,
  session: ['session'] as const,
  notifications: ['notifications'] as const,
  notificationPage: (startIndex: number, perPage: number) => ['notifications', 'page', startIndex, perPage] as const,
  unreadCount: ['notifications', 'unread'] as const,
  adminJobs: ['admin', 'jobs'] as const,
}

const PERMANENT_GRAPHQL = new Set(['UNAUTHORIZED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND'])

/** Retry network failures and 5xx twice; never client errors. */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (failureCount >= 2) return false
  if (error instanceof ApiError) return error.status >= 500
  if (error instanceof GraphQLRequestError) return !PERMANENT_GRAPHQL.has(error.code)
  return true
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        retry: shouldRetry,
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  })
}
