import { useEffect } from 'react'
import { HealthProvider } from './components/HealthProvider'
import { Layout } from './components/Layout'
import { NotFoundPage, resolvePage } from './pages'

export default function App() {
  const Page = resolvePage(window.location.pathname)

  useEffect(() => {
    if (Page === NotFoundPage) document.title = 'Page not found · QuickDapp'
  }, [Page])

  return (
    <HealthProvider>
      <Layout>
        <Page />
      </Layout>
    </HealthProvider>
  )
}
