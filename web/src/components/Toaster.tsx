import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { Link, useLocation } from '../lib/router'
import { BellIcon, CloseIcon } from './icons'

export interface Toast {
  id: number
  title: string
  body?: string | null
  tone?: 'info' | 'success' | 'error'
  action?: { label: string; href: string }
}

interface ToastApi {
  push: (toast: Omit<Toast, 'id'>) => void
  dismiss: (id: number) => void
}

const ToastContext = createContext<ToastApi | null>(null)

const TOAST_MS = 7000
const MAX_TOASTS = 4

function ToastItem({ toast, onDismiss }: { toast: Toast; onDismiss: () => void }) {
  const [paused, setPaused] = useState(false)
  const { path } = useLocation()
  const dismissRef = useRef(onDismiss)
  dismissRef.current = onDismiss

  useEffect(() => {
    if (paused) return
    const timer = setTimeout(() => dismissRef.current(), TOAST_MS)
    return () => clearTimeout(timer)
  }, [paused])

  const toneClass =
    toast.tone === 'error'
      ? 'text-error'
      : toast.tone === 'success'
        ? 'text-success'
        : 'text-primary-dark dark:text-primary'

  return (
    <li
      className="toast-enter pointer-events-auto flex w-full items-start gap-3 rounded-xl border border-border bg-surface p-4 shadow-lg ring-1 ring-black/5"
      data-testid="toast"
      onMouseEnter={() => setPaused(true)}
      onMouseLeave={() => setPaused(false)}
      onFocus={() => setPaused(true)}
      onBlur={() => setPaused(false)}
    >
      <BellIcon className={`mt-0.5 size-5 shrink-0 ${toneClass}`} />
      <div className="min-w-0 flex-1">
        <p className="text-sm font-semibold break-words" data-testid="toast-title">
          {toast.title}
        </p>
        {toast.body && <p className="mt-1 line-clamp-3 text-sm break-words text-muted">{toast.body}</p>}
        {toast.action && toast.action.href !== path && (
          <Link href={toast.action.href} className="mt-2 inline-block text-sm font-semibold text-primary-dark underline-offset-4 hover:underline dark:text-primary">
            {toast.action.label}
          </Link>
        )}
      </div>
      <button
        type="button"
        onClick={onDismiss}
        className="flex-center -m-1 size-8 shrink-0 rounded-lg text-muted hover:bg-border/50 hover:text-foreground"
        aria-label="Dismiss notification"
      >
        <CloseIcon className="size-4" />
      </button>
    </li>
  )
}

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([])
  const nextId = useRef(1)

  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), [])
  const push = useCallback((toast: Omit<Toast, 'id'>) => {
    const id = nextId.current++
    setToasts((list) => [...list, { ...toast, id }].slice(-MAX_TOASTS))
  }, [])
  const api = useMemo(() => ({ push, dismiss }), [push, dismiss])

  return (
    <ToastContext.Provider value={api}>
      {children}
      <section
        aria-label="Notifications"
        aria-live="polite"
        aria-relevant="additions"
        className="pointer-events-none fixed inset-x-0 bottom-0 z-50 flex justify-center p-4 sm:inset-x-auto sm:right-0 sm:justify-end"
      >
        <ol className="flex w-full max-w-sm flex-col gap-2">
          {toasts.map((toast) => (
            <ToastItem key={toast.id} toast={toast} onDismiss={() => dismiss(toast.id)} />
          ))}
        </ol>
      </section>
    </ToastContext.Provider>
  )
}

export function useToasts(): ToastApi {
  const value = useContext(ToastContext)
  if (!value) throw new Error('useToasts must be used inside <ToastProvider>')
  return value
}
