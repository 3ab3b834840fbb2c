/**
 * A tiny GraphQL client over `fetch`: POST `/api/graphql` with the session
 * cookies and the CSRF header (via `requestJson`), errors surfaced with their
 * `extensions.code`. An `UNAUTHORIZED` answer triggers one refresh + retry,
 * like an expired token on the REST endpoints.
 */
import { ApiError, ensureFreshSession, hasSessionHint, requestJson } from './http'

export const GRAPHQL_PATH = '/api/graphql'

export interface GraphQLErrorEntry {
  message: string
  path?: Array<string | number>
  extensions?: { code?: string } & Record<string, unknown>
}

export class GraphQLRequestError extends Error {
  readonly code: string
  readonly errors: GraphQLErrorEntry[]
  constructor(errors: GraphQLErrorEntry[]) {
    super(errors.map((e) => e.message).join('; ') || 'GraphQL request failed')
    this.name = 'GraphQLRequestError'
    this.errors = errors
    this.code = errors.find((e) => e.extensions?.code)?.extensions?.code ?? 'INTERNAL_SERVER_ERROR'
  }
}

interface GraphQLResponse<T> {
  data?: T | null
  errors?: GraphQLErrorEntry[]
}

async function post<T>(query: string, variables: Record<string, unknown> | undefined, signal?: AbortSignal) {
  try {
    return await requestJson<GraphQLResponse<T>>(GRAPHQL_PATH, {
      method: 'POST',
      body: variables ? { query, variables } : { query },
      signal,
    })
  } catch (err) {
    // Some servers answer GraphQL errors with a non-2xx status and the usual body.
    if (err instanceof ApiError && err.status === 401) {
      throw new GraphQLRequestError([{ message: err.message, extensions: { code: 'UNAUTHORIZED' } }])
    }
    throw err
  }
}

export async function graphql<T>(
  query: string,
  variables?: Record<string, unknown>,
  { signal }: { signal?: AbortSignal } = {},
): Promise<T> {
  let body = await post<T>(query, variables, signal)
  if (body.errors?.some((e) => e.extensions?.code === 'UNAUTHORIZED') && hasSessionHint()) {
    if (await ensureFreshSession()) body = await post<T>(query, variables, signal)
  }
  if (body.errors && body.errors.length > 0) throw new GraphQLRequestError(body.errors)
  if (body.data == null) throw new GraphQLRequestError([{ message: 'The server returned no data' }])
  return body.data
}
