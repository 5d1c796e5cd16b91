import { MinHeap } from "../shared/min-heap.js"
import { countLeases, type Lease, type LeaseCounts, lateAfter } from "./protection.js"
import type { EndpointRecord } from "./record.js"
import { replicaOf, sweepableOf, sweepCandidates, type SweepRules } from "./sweep.js"

/** A lease as the table holds it: its own copy, moved forward in place by heartbeats. */
type HeldLease = { -readonly [K in keyof Lease]: Lease[K] }

/** What the table holds of one sweepable endpoint, changed in place as it changes. */
interface Held {
  /** The endpoint as last followed (a renewal saved since may have moved its lastSeenAt in the directory). */
  record: EndpointRecord
  lease: HeldLease | undefined
  criticalSince: number | undefined
  connection: string | undefined
  /** The earliest time this lease is on the timeline for; undefined when it is not on it. */
  queuedAt: number | undefined
  removed: boolean
}

interface Queued {
  readonly at: number
  readonly id: string
  readonly held: Held
}

/** Silent for longer than `lateAfter` of its ttl: it lapses unless a heartbeat comes (protection.ts). */
const isLate = (lease: Lease, at: number) => at - lease.lastSeenAt > lease.ttl * lateAfter
const lateAt = (lease: Lease) => lease.lastSeenAt + lease.ttl * lateAfter

/**
 * The sweepable endpoints of the published directory, followed change by change, arranged so
 * that a sweep every 250 ms costs what is due rather than the directory's size: passing leases
 * wait on a timeline until they may be late (silent for `lateAfter` of their ttl), and only the
 * late, the lapsed, the critical and those tied to another replica's connections are looked at.
 * A lease the timeline brings up that was renewed meanwhile goes back on it, so a heartbeat
 * costs one write in place and a lease comes up about once per `lateAfter` of its ttl.
 * Mutable on purpose, like the pending renewals: it lives inside the registry's scope and is
 * only touched by its owner.
 */
export const makeLeaseTable = (replicaId: string) => {
  const entries = new Map<string, Held>()
  let timeline = new MinHeap<Queued>((a, b) => a.at < b.at)
  const late = new Map<string, Held>()
  const lapsed = new Map<string, Held>()
  const critical = new Map<string, Held>()
  /** Endpoints tied to a WebSocket connection of another replica. */
  const tied = new Map<string, Held>()
  let leaseCount = 0

  const wait = (id: string, held: Held, lease: Lease) => {
    const at = lateAt(lease)
    // A lease already on the timeline for earlier stays there; a stale later entry is skipped when it comes up.
    if (held.queuedAt !== undefined && held.queuedAt <= at) return
    held.queuedAt = at
    timeline.push({ at, id, held })
  }

  const place = (id: string, held: Held) => {
    late.delete(id)
    lapsed.delete(id)
    if (held.lease?.lapsedAt !== undefined) lapsed.set(id, held)
    else if (held.lease !== undefined) wait(id, held, held.lease)
    if (held.criticalSince === undefined) critical.delete(id)
    else critical.set(id, held)
    if (held.connection === undefined || replicaOf(held.connection) === replicaId) tied.delete(id)
    else tied.set(id, held)
  }

  const drop = (id: string, held: Held) => {
    held.removed = true
    if (held.lease !== undefined) leaseCount--
    entries.delete(id)
    late.delete(id)
    lapsed.delete(id)
    critical.delete(id)
    tied.delete(id)
  }

  const follow = (id: string, record: EndpointRecord | undefined) => {
    const item = record === undefined ? undefined : sweepableOf(record)
    const held = entries.get(id)
    if (record === undefined || item === undefined) {
      if (held !== undefined) drop(id, held)
      return
    }
    // A heartbeat noted here may be newer than the record it came with.
    const heard = held?.lease?.lastSeenAt ?? 0
    const lease = item.lease === undefined ? undefined : { ...item.lease, lastSeenAt: Math.max(heard, item.lease.lastSeenAt) }
    const target = held ?? { record, lease: undefined, criticalSince: undefined, connection: undefined, queuedAt: undefined, removed: false }
    if (held === undefined) entries.set(id, target)
    target.record = record
    leaseCount += (lease === undefined ? 0 : 1) - (target.lease === undefined ? 0 : 1)
    target.lease = lease
    target.criticalSince = item.criticalSince
    target.connection = item.connection
    place(id, target)
  }

  /** Brings up the leases due by `at`: the late ones join `late`, those renewed meanwhile wait again. */
  const refresh = (at: number) => {
    const again: Array<readonly [string, Held, Lease]> = []
    for (let top = timeline.peek(); top !== undefined && top.at <= at; top = timeline.peek()) {
      timeline.pop()
      const { held, id } = top
      if (held.removed || held.queuedAt !== top.at) continue
      held.queuedAt = undefined
      const lease = held.lease
      // A lapsed lease is in `lapsed` already; one without a lease waits for nothing.
      if (lease === undefined || lease.lapsedAt !== undefined) continue
      if (isLate(lease, at)) late.set(id, held)
      else again.push([id, held, lease])
    }
    for (const [id, held] of late) {
      const lease = held.lease
      if (lease !== undefined && lease.lapsedAt === undefined && isLate(lease, at)) continue
      late.delete(id)
      if (lease !== undefined && lease.lapsedAt === undefined) again.push([id, held, lease])
    }
    for (const [id, held, lease] of again) wait(id, held, lease)
  }

  return {
    follow,
    reset: (records: Iterable<readonly [string, EndpointRecord]>) => {
      for (const [id, held] of entries) drop(id, held)
      timeline = new MinHeap<Queued>((a, b) => a.at < b.at)
      for (const [id, record] of records) follow(id, record)
    },
    /**
     * The endpoint as last followed, when the table holds it: a heartbeat finds it with one lookup
     * in a native Map, where the directory's persistent map of 100,000 endpoints takes a walk
     * down its tree and a hash of the id each time.
     */
    recordOf: (id: string): EndpointRecord | undefined => entries.get(id)?.record,
    /** Called for every heartbeat taken in memory: moves the table's own copy, allocating nothing. */
    renew: (id: string, at: number) => {
      const lease = entries.get(id)?.lease
      if (lease !== undefined && at > lease.lastSeenAt) lease.lastSeenAt = at
    },
    /** The protection counts (protection.ts) of every lease, judging only those that are late or lapsed. */
    counts: (at: number, countingFrom: number): LeaseCounts => {
      refresh(at)
      const judged: Array<Lease> = []
      for (const { lease } of late.values()) if (lease !== undefined) judged.push(lease)
      for (const { lease } of lapsed.values()) if (lease !== undefined) judged.push(lease)
      const some = countLeases(judged, at, countingFrom)
      // Every other lease was heard within `lateAfter` of its ttl: live.
      return { leased: leaseCount - (judged.length - some.leased), lapsing: some.lapsing }
    },
    /** Passing leases not heard from for `lateAfter` of their ttl. */
    quiet: (at: number): Array<string> => {
      refresh(at)
      return Array.from(late.keys())
    },
    /** What a sweep has to act on, judged (sweepCandidates) among the few endpoints that can be. */
    candidates: (at: number, rules: SweepRules) => {
      refresh(at)
      return sweepCandidates(new Map([...late, ...critical, ...tied]), at, rules)
    }
  }
}

export type LeaseTable = ReturnType<typeof makeLeaseTable>
