import type { ReactNode } from 'react'

export type Tone = 'success' | 'warning' | 'error' | 'neutral'

const toneClasses: Record<Tone, { badge: string; dot: string }> = {
  success: {
    badge: 'bg-success/10 text-emerald-800 ring-success/30 dark:text-emerald-300',
    dot: 'bg-success',
  },
  warning: {
    badge: 'bg-warning/10 text-amber-800 ring-warning/35 dark:text-amber-300',
    dot: 'bg-warning',
  },
  error: {
    badge: 'bg-error/10 text-red-800 ring-error/30 dark:text-red-300',
    dot: 'bg-error',
  },
  neutral: {
    badge: 'bg-secondary/10 text-muted ring-secondary/25',
    dot: 'bg-secondary',
  },
}

interface BadgeProps {
  tone: Tone
  children: ReactNode
  pulse?: boolean
  className?: string
  'data-testid'?: string
  'data-status'?: string
}

export function Badge({ tone, children, pulse = false, className = '', ...rest }: BadgeProps) {
  const classes = toneClasses[tone]
  return (
    <span
      className={`inline-flex shrink-0 items-center gap-1.5 rounded-full px-2.5 py-1 text-xs font-semibold ring-1 ring-inset ${classes.badge}${className ? ` ${className}` : ''}`}
      {...rest}
    >
      <span className="relative flex size-2" aria-hidden="true">
        {pulse && (
          <span className={`absolute inline-flex size-full animate-ping rounded-full opacity-60 ${classes.dot}`} />
        )}
        <span className={`relative inline-flex size-2 rounded-full ${classes.dot}`} />
      </span>
      {children}
    </span>
  )
}
