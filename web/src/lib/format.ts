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
