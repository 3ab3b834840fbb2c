import { QueryClientProvider } from '@tanstack/react-query'
import { useEffect, useRef, useState } from 'react'
import { HealthProvider } from './components/HealthProvider'
import { Layout } from './components/Layout'
import { RequireAuth } from './components/RequireAuth'
import { ToastProvider } from './components/Toaster'
import { AuthProvider } from './hooks/auth'
import { LiveProvider } from './hooks/live'
import { createQueryClient } from './lib/queryClient'
import { useLocation } from './lib/router'
import { resolveRoute } from './pages'

function Routes() {
  const { path } = useLocation()
  const route = resolveRoute(path)
  const firstRender = useRef(true)

  useEffect(() => {
    document.title = route.title ? `${route.title} · QuickDapp` : 'QuickDapp'
    if (firstRender.current) {
      firstRender.current = false
      return
    }
    // A new page: start at the top and move focus to it, as a full page load would.
    window.scrollTo(0, 0)
    document.getElementById('main')?.focus({ preventScroll: true })
  }, [route])

  const Page = route.component
  return route.auth ? (
    <RequireAuth>
      <Page />
    </RequireAuth>
  ) : (
    <Page />
  )
}

export default function App() {
  const [queryClient] = useState(createQueryClient)
  return (
    <QueryClientProvider client={queryClient}>
      <HealthProvider>
        <ToastProvider>
          <AuthProvider>
            <LiveProvider>
              <Layout>
                <Routes />
              </Layout>
            </LiveProvider>
          </AuthProvider>
        </ToastProvider>
      </HealthProvider>
    </QueryClientProvider>
  )
}
