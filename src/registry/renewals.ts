import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type { StorageError } from "../storage/errors.js"
import type { EndpointRecord } from "./record.js"
import { leaseOf } from "./sweep.js"

/** A quiet lease is read again after this share of its ttl: renewals are seen well within a ttl. */
const rereadAfter = 0.25

/**
 * Heartbeats taken by other replicas renew the stored lease without a change, so the leader's
 * copy may show a lease as quiet when it is not. This reads quiet leases from the store and
 * answers those renewed meanwhile. Each is read at most once per quarter of its ttl, so that a
 * whole fleet gone quiet (the case protection is for) costs a bounded number of reads.
 */
export const makeRenewalReader = (get: (id: string) => Effect.Effect<EndpointRecord | undefined, StorageError>) =>
  Effect.gen(function*() {
    const lastRead = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
    return (quiet: ReadonlyArray<EndpointRecord>, at: number) =>
      Effect.gen(function*() {
        const before = yield* Ref.get(lastRead)
        const due = quiet.filter((record) => {
          const read = before.get(record.registration.id)
          return read === undefined || at - read >= (leaseOf(record)?.ttl ?? 0) * rereadAfter
        })
        const stored = yield* Effect.forEach(due, (record) => get(record.registration.id), { concurrency: 4 })
        // Only quiet leases are remembered: one that spoke up, or left, is forgotten.
        const dueIds = new Set(due.map((record) => record.registration.id))
        yield* Ref.set(lastRead, new Map(quiet.map((record) => {
          const id = record.registration.id
          return [id, dueIds.has(id) ? at : (before.get(id) ?? at)] as const
        })))
        return stored.filter((found, n): found is EndpointRecord => found !== undefined && found.lastSeenAt > due[n]!.lastSeenAt)
      })
  })
