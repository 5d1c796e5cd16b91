import * as Duration from "effect/Duration"
import { type Lease, overdue } from "./protection.js"
import type { EndpointRecord } from "./record.js"

/** The replica part of a connection owner (`<replica>/<connection>`). */
export const replicaOf = (owner: string) => owner.slice(0, Math.max(0, owner.indexOf("/")))

/** The lease of a registered endpoint with a ttl; static endpoints and those without a ttl hold none. */
export const leaseOf = (record: EndpointRecord): Lease | undefined =>
  record.source === "static" || record.registration.ttl === undefined
    ? undefined
    : {
      ttl: Duration.toMillis(record.registration.ttl),
      lastSeenAt: record.lastSeenAt,
      // Critical since then, at the latest: a lease that lapses turns the endpoint critical.
      lapsedAt: record.leaseStatus === "critical" ? (record.criticalSince ?? record.lastSeenAt) : undefined
    }

/** What the lease sweep judges of one endpoint: worked out once per change, not once per sweep. */
export interface Sweepable {
  readonly lease: Lease | undefined
  readonly criticalSince: number | undefined
  /** The WebSocket connection (`<replica>/<connection>`) an ephemeral endpoint is tied to. */
  readonly connection: string | undefined
}

/** Undefined for what no sweep ever touches: static endpoints, and those with no lease, no critical time and no connection. */
export const sweepableOf = (record: EndpointRecord): Sweepable | undefined => {
  if (record.source === "static") return undefined
  const lease = leaseOf(record)
  return lease === undefined && record.criticalSince === undefined && record.connection === undefined
    ? undefined
    : { lease, criticalSince: record.criticalSince, connection: record.connection }
}

/** How one sweep judges: from when leases and critical times count, and whether they may expire. */
export interface SweepRules {
  readonly countingFrom: number
  /** `registry.deregisterCriticalAfter`, in milliseconds. */
  readonly removeAfter: number
  /** False while protection keeps leases. */
  readonly expire: boolean
  readonly replicaId: string
}

/** The lease ran out: no heartbeat for a whole ttl of listening. */
export const lapsedAt = (record: EndpointRecord, at: number, countingFrom: number) => {
  const lease = leaseOf(record)
  return lease !== undefined && overdue(lease, at, countingFrom)
}

/** What a sweep has to act on: leases that ran out, endpoints critical for too long, endpoints tied to another replica. */
export const sweepCandidates = <K>(entries: Iterable<readonly [K, Sweepable]>, at: number, rules: SweepRules) => {
  const leases: Array<K> = []
  const removals: Array<K> = []
  const owned: Array<K> = []
  for (const [key, item] of entries) {
    if (rules.expire && item.lease !== undefined && overdue(item.lease, at, rules.countingFrom)) leases.push(key)
    // Critical time counts from when Miko could judge too: a restart alone removes nothing.
    else if (rules.expire && item.criticalSince !== undefined && at - Math.max(item.criticalSince, rules.countingFrom) >= rules.removeAfter) {
      removals.push(key)
    }
    if (item.connection !== undefined && replicaOf(item.connection) !== rules.replicaId) owned.push(key)
  }
  return { leases, removals, owned }
}

/** The records among `records` that a sweep acts on, judged again (inside the write, on the latest state). */
export const recordsToSweep = (records: Iterable<EndpointRecord>, at: number, rules: SweepRules) =>
  sweepCandidates(
    Array.from(records).flatMap((record) => {
      const item = sweepableOf(record)
      return item === undefined ? [] : [[record, item] as const]
    }),
    at,
    rules
  )
