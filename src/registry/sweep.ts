import * as Duration from "effect/Duration"
import { type Lease, lateAfter, overdue } from "./protection.js"
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

export const leasesOf = (records: Iterable<EndpointRecord>): Array<Lease> => {
  const leases: Array<Lease> = []
  for (const record of records) {
    const lease = leaseOf(record)
    if (lease !== undefined) leases.push(lease)
  }
  return leases
}

/**
 * Passing leases this replica has not heard from for a while. Heartbeats taken by other replicas
 * renew the stored lease without a change, so these are read from the store before judging.
 */
export const quietLeases = (records: Iterable<EndpointRecord>, at: number): Array<EndpointRecord> => {
  const quiet: Array<EndpointRecord> = []
  for (const record of records) {
    const lease = leaseOf(record)
    if (lease !== undefined && lease.lapsedAt === undefined && at - lease.lastSeenAt > lease.ttl * lateAfter) quiet.push(record)
  }
  return quiet
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

export const lapsedAt = (record: EndpointRecord, at: number, countingFrom: number) => {
  const lease = leaseOf(record)
  return lease !== undefined && overdue(lease, at, countingFrom)
}

/** What a sweep has to look at, judged without the write lock. */
export const sweepCandidates = (records: Iterable<EndpointRecord>, at: number, rules: SweepRules) => {
  const leases: Array<EndpointRecord> = []
  const removals: Array<EndpointRecord> = []
  const owned: Array<EndpointRecord> = []
  for (const record of records) {
    if (record.source === "static") continue
    if (rules.expire && lapsedAt(record, at, rules.countingFrom)) leases.push(record)
    // Critical time counts from when Miko could judge too: a restart alone removes nothing.
    else if (rules.expire && record.criticalSince !== undefined && at - Math.max(record.criticalSince, rules.countingFrom) >= rules.removeAfter) {
      removals.push(record)
    }
    if (record.connection !== undefined && replicaOf(record.connection) !== rules.replicaId) owned.push(record)
  }
  return { leases, removals, owned }
}
