import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { EndpointRecord } from "./record.js"

/**
 * How long a heartbeat may live in memory only. A heartbeat only moves a lease forward, so it is
 * answered from memory and the renewals of one interval reach the store in one transaction: a
 * crash loses at most this much, which the grace of one ttl after a start covers. Alone on the
 * database, one second (a tenth of the lease when that is shorter). With other replicas, which
 * learn of renewals only from the store, every check writes what came in since the last one, so
 * that no replica sees a live lease as quiet.
 */
const longestDelayMillis = 1_000
const shareOfTtl = 0.1

/**
 * How often the flusher looks whether a renewal is due: with other replicas, often enough that a
 * renewal reaches the store about as soon as the transaction before it ends (a group commit).
 */
export const renewalCheckInterval = (shared: boolean) => Duration.millis(shared ? 10 : 50)

/** Moved forward in place by later heartbeats of the same lease, so a repeat allocates nothing. */
interface Pending {
  at: number
  readonly due: number
}

/**
 * Leases renewed since the last flush: endpoint id → newest heartbeat. Whoever judges a lease
 * reads the record through `withRenewal`, so a renewal counts the moment it is taken.
 */
export type PendingRenewals = ReturnType<typeof makePendingRenewals>

export const makePendingRenewals = (options: { readonly shared: boolean }) => {
  let pending = new Map<string, Pending>()
  let firstDue = Number.POSITIVE_INFINITY
  return {
    /**
     * Synchronous, so that the read fast path can take a heartbeat without entering a fiber.
     * True when the lease was renewed already since the last flush.
     */
    note: (id: string, at: number, ttlMillis: number): boolean => {
      const known = pending.get(id)
      if (known !== undefined) {
        known.at = Math.max(at, known.at)
        return true
      }
      const due = at + Math.min(longestDelayMillis, ttlMillis * shareOfTtl)
      pending.set(id, { at, due })
      firstDue = Math.min(firstDue, due)
      return false
    },
    /** Every renewal, once the first of them is due at `now` (or whenever `all`); none before. */
    take: (now: number, all = false) =>
      Effect.sync((): ReadonlyMap<string, number> => {
        if (pending.size === 0 || (!all && now < firstDue)) return new Map()
        const taken = new Map(Array.from(pending, ([id, { at }]) => [id, at] as const))
        pending = new Map()
        firstDue = Number.POSITIVE_INFINITY
        return taken
      }),
    /** Puts back renewals whose flush failed, so the next flush writes them. */
    restore: (taken: ReadonlyMap<string, number>, now: number) =>
      Effect.sync(() => {
        for (const [id, at] of taken) pending.set(id, { at: Math.max(at, pending.get(id)?.at ?? 0), due: now })
        firstDue = Math.min(firstDue, now)
      }),
    withRenewal: (record: EndpointRecord): EndpointRecord => {
      const renewed = pending.get(record.registration.id)?.at
      return renewed !== undefined && renewed > record.lastSeenAt ? { ...record, lastSeenAt: renewed } : record
    }
  }
}
