import type { ComponentType } from 'react'
import { HomePage } from './HomePage'
import { NotFoundPage } from './NotFoundPage'

/**
 * Path -> page. Add new pages here; swap in a router library once routes need
 * parameters or nested layouts. The server falls back to index.html for
 * unknown paths, so any path listed here can be opened directly.
 */
export const pages: Record<string, ComponentType> = {
  '/': HomePage,
}

export { NotFoundPage }

export function resolvePage(pathname: string): ComponentType {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname
  return pages[path] ?? NotFoundPage
}
