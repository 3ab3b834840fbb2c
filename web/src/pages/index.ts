import type { ComponentType } from 'react'
import { AccountPage } from './AccountPage'
import { HomePage } from './HomePage'
import { NotFoundPage } from './NotFoundPage'
import { NotificationsPage } from './NotificationsPage'
import { SignInPage } from './SignInPage'
import { StatusPage } from './StatusPage'

export interface Route {
  component: ComponentType
  /** Document title; the app name is appended. */
  title: string
  /** Needs a signed-in user (others see a sign-in prompt). */
  auth?: boolean
}

/**
 * Path -> page. The server falls back to index.html for unknown non-API
 * paths, so every path listed here can be opened directly.
 */
export const routes: Record<string, Route> = {
  '/': { component: HomePage, title: '' },
  '/signin': { component: SignInPage, title: 'Sign in' },
  '/notifications': { component: NotificationsPage, title: 'Notifications', auth: true },
  '/account': { component: AccountPage, title: 'Account', auth: true },
  '/status': { component: StatusPage, title: 'System status' },
}

const notFound: Route = { component: NotFoundPage, title: 'Page not found' }

export function resolveRoute(path: string): Route {
  return routes[path] ?? notFound
}
