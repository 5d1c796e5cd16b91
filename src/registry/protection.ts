/**
 * Mass-expiry protection: the decision, with no effects.
 *
 * Why it exists: a lease lapses when Miko hears no heartbeat, and Miko cannot tell an endpoint
 * that stopped from heartbeats that cannot reach it. When much of the fleet goes quiet at once,
 * the likelier fault is on Miko's side (a network cut between Miko and the fleet, a paused or
 * restarted Miko). Expiring those leases would turn every endpoint critical, SDKs pick passing
 * endpoints only, and callers would get "no healthy endpoint" for services that are fine: the
 * directory would cause the outage. So, past `registry.protection.threshold`, leases are neither
 * expired nor removed until heartbeats return (Eureka's self-preservation, Nacos' protect
 * threshold and Envoy's panic threshold answer the same problem).
 */

/** What the decision needs of one endpoint with a lease. Times in milliseconds. */
export interface Lease {
  readonly ttl: number
  /** The last heartbeat (or registration). */
  readonly lastSeenAt: number
  /** When the endpoint turned critical, once its lease ran out; undefined while it holds. */
  readonly lapsedAt: number | undefined
}

export interface LeaseCounts {
  /** Leases that count: passing, or lapsed within the last ttl. */
  readonly leased: number
  /** Those lapsed within the last ttl, or silent for over 0.6 of their ttl (lapsing unless a heartbeat comes). */
  readonly lapsing: number
}

/** What `GET /v1/services` shows. */
export interface ProtectionStatus extends LeaseCounts {
  readonly active: boolean
  readonly threshold: number
}

/**
 * Fewest lapsing leases taken for a fault on Miko's side: one endpoint going quiet is that
 * endpoint's own problem, and must turn critical within its ttl whatever the fleet's size.
 */
export const minimumLapsing = 2

/**
 * SDKs heartbeat every ttl/3, so a lease silent for 0.6 of its ttl has missed a heartbeat, with
 * room for a late one. Counting those as lapsing lets protection begin before the first lease of
 * a mass lapse runs out (by then the rest of the fleet, heard within a third of a ttl of it, is
 * silent for more than 2/3 of a ttl), instead of after part of it was turned critical.
 */
export const lateAfter = 0.6

/**
 * When Miko last could hear the endpoint. Heartbeats before `countingFrom` (this process began
 * leading, or left protection) went unheard or unjudged: the lease counts from then, so a
 * restart, a takeover or a recovery alone never makes an endpoint lapse.
 */
export const heardAt = (lease: Lease, countingFrom: number) => Math.max(lease.lastSeenAt, countingFrom)

/** The lease ran out: no heartbeat for a whole ttl of listening. */
export const overdue = (lease: Lease, at: number, countingFrom: number) =>
  lease.lapsedAt === undefined && at - heardAt(lease, countingFrom) > lease.ttl

/** How a lease counts at `at`: lapsing, live, or out of the count (it lapsed over a ttl ago). */
const standing = (lease: Lease, at: number, countingFrom: number): "lapsing" | "live" | "gone" => {
  if (lease.lapsedAt !== undefined) return at - lease.lapsedAt <= lease.ttl ? "lapsing" : "gone"
  return at - heardAt(lease, countingFrom) > lease.ttl * lateAfter ? "lapsing" : "live"
}

export const countLeases = (leases: Iterable<Lease>, at: number, countingFrom: number): LeaseCounts => {
  let leased = 0
  let lapsing = 0
  for (const lease of leases) {
    const state = standing(lease, at, countingFrom)
    if (state === "gone") continue
    leased++
    if (state === "lapsing") lapsing++
  }
  return { leased, lapsing }
}

/**
 * Whether leases must be kept: more than `threshold` of them lapsing at once. The same rule
 * enters and leaves, so protection ends as soon as enough heartbeats are back. `0` turns it off.
 */
export const protects = (counts: LeaseCounts, threshold: number) =>
  threshold > 0 && counts.lapsing >= minimumLapsing && counts.lapsing > threshold * counts.leased

/** What a judgement did to the protection state: the log lines follow it. */
export const transition = (was: boolean, now: boolean): "entered" | "left" | "unchanged" =>
  was === now ? "unchanged" : now ? "entered" : "left"
