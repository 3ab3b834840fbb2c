import { QueryClientProvider } from '@tanstack/react-query'
import { act, cleanup, render, screen, waitFor } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HealthProvider } from '../components/HealthProvider'
import { AuthProvider } from '../hooks/auth'
import { createQueryClient } from '../lib/queryClient'
import { StatusPage } from './StatusPage'

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

let isAdmin = true
let jobsAnswer: () => Response

beforeEach(() => {
  isAdmin = true
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      switch (url.split('?')[0]) {
        case '/api/config':
          return json(200, { appName: 'QuickDapp', version: '9.9.9', appMode: 'test', baseUrl: '', chainIds: [1], defaultChainId: 1 })
        case '/health':
          return json(200, { status: 'ok', version: '9.9.9', timestamp: '2025-01-01T00:00:00Z' })
        case '/health/ready':
          return json(200, { status: 'ready', checks: { database: { ok: true, latency_ms: 0.4 } } })
        case '/auth/session':
          return json(200, {
            user: { id: 1, wallet: '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed', isAdmin },
            session: { id: 's', createdAt: '2025-01-01T00:00:00Z', expiresAt: '2025-02-01T00:00:00Z' },
          })
        case '/api/admin/jobs':
          return jobsAnswer()
        default:
          throw new TypeError(`unexpected fetch ${url}`)
      }
    }),
  )
})

afterEach(() => {
  cleanup()
  vi.unstubAllGlobals()
})

function renderPage() {
  return render(
    <QueryClientProvider client={createQueryClient()}>
      <HealthProvider>
        <AuthProvider>
          <StatusPage />
        </AuthProvider>
      </HealthProvider>
    </QueryClientProvider>,
  )
}

describe('StatusPage', () => {
  it('shows an admin the queue counts and recent failures', async () => {
    jobsAnswer = () =>
      json(200, {
        jobs: [
          { id: 7, type: 'email.send', status: 'failed', lastError: 'SMTP timeout', finished: '2025-01-01T00:05:00Z' },
          { id: 6, type: 'email.send', status: 'succeeded', finished: '2025-01-01T00:04:00Z' },
          { id: 5, type: 'chain.watch', status: 'running' },
        ],
        next: 5,
      })
    renderPage()
    await screen.findByTestId('jobs-available')
    const counts = screen.getAllByTestId('job-count').map((el) => [el.dataset.status, el.querySelector('dd')?.textContent])
    expect(counts).toEqual([
      ['running', '1'],
      ['succeeded', '1'],
      ['failed', '1'],
    ])
    const failure = screen.getByTestId('job-failure')
    expect(failure.textContent).toContain('#7 email.send')
    expect(failure.textContent).toContain('SMTP timeout')
    expect((await screen.findByTestId('status-version')).textContent).toBe('9.9.9')
  })

  it('says plainly when the job endpoint is not there', async () => {
    jobsAnswer = () => json(404, { error: { code: 'http.not_found', message: 'no route' } })
    renderPage()
    expect((await screen.findByTestId('jobs-unavailable')).textContent).toContain('Job status unavailable')
  })

  it('has no job section for other users', async () => {
    isAdmin = false
    jobsAnswer = () => json(500, {})
    renderPage()
    await screen.findByText('Health and readiness')
    await waitFor(() => expect(vi.mocked(fetch).mock.calls.some(([url]) => url === '/auth/session')).toBe(true))
    await act(async () => {}) // let the session answer render
    expect(screen.queryByTestId('jobs-card')).toBeNull()
    expect(vi.mocked(fetch).mock.calls.some(([url]) => String(url).startsWith('/api/admin/jobs'))).toBe(false)
  })
})
