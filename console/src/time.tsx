/** An instant shown both ways: how long ago (or until) and the local date and time. */

const units: ReadonlyArray<readonly [number, string]> = [[86_400_000, "d"], [3_600_000, "h"], [60_000, "min"], [1_000, "s"]]

export const relative = (at: number, now: number): string => {
  const delta = at - now
  const size = Math.abs(delta)
  if (size < 1_000) return "now"
  const [unit, name] = units.find(([ms]) => size >= ms) ?? units[units.length - 1]!
  const amount = Math.floor(size / unit)
  return delta < 0 ? `${amount} ${name} ago` : `in ${amount} ${name}`
}

const absolute = (at: number) => {
  const d = new Date(at)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export const Time = ({ at, now }: { readonly at: string | number | undefined; readonly now: number }) => {
  if (at === undefined) return <span class="muted">—</span>
  const ms = typeof at === "number" ? at : Date.parse(at)
  return (
    <time dateTime={new Date(ms).toISOString()} title={new Date(ms).toISOString()}>
      {relative(ms, now)} <span class="absolute">({absolute(ms)})</span>
    </time>
  )
}

/** A duration between two instants, in the largest unit that reads well. */
export const duration = (from: string, to: string | undefined): string => {
  if (to === undefined) return "running"
  const ms = Date.parse(to) - Date.parse(from)
  if (ms < 1_000) return `${ms} ms`
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`
}
