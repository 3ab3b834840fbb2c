const msFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 })

/** 0.4 -> "0.4 ms", 12.3 -> "12 ms", 0.01 -> "<0.1 ms". */
export function formatLatency(ms: number): string {
  if (ms < 0.1) return '<0.1 ms'
  if (ms >= 10) return `${Math.round(ms)} ms`
  return `${msFormat.format(ms)} ms`
}

const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
})

export function formatTime(date: Date): string {
  return timeFormat.format(date)
}

/** "database" -> "Database", "chain_rpc" -> "Chain rpc". */
export function humanize(name: string): string {
  const spaced = name.replace(/[_-]+/g, ' ').trim()
  return spaced.charAt(0).toUpperCase() + spaced.slice(1)
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })

export function formatDateTime(date: Date): string {
  return dateTimeFormat.format(date)
}

const relativeFormat = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })

const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
]

/** "just now", "5 minutes ago", "in 30 days" (a unit is used from twice its size). */
export function formatRelative(date: Date, now: Date = new Date()): string {
  const seconds = Math.round((date.getTime() - now.getTime()) / 1000)
  if (Math.abs(seconds) < 45) return 'just now'
  for (const [unit, size] of UNITS) {
    const threshold = unit === 'minute' || unit === 'hour' ? size : size * 2
    if (Math.abs(seconds) >= threshold) return relativeFormat.format(Math.round(seconds / size), unit)
  }
  return relativeFormat.format(Math.round(seconds / 60), 'minute')
}
