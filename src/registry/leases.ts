import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type { Cluster } from "../cluster/service.js"
import type { ConfigService } from "../config/service.js"
import type { LeaseGuard } from "./guard.js"
import type { Journal } from "./journal.js"
import { countDeregistration, leaseExpiries } from "./metrics.js"
import type { PendingRenewals } from "./pending-renewals.js"
import { type EndpointRecord, statusOf } from "./record.js"
import type { StorageError } from "../storage/errors.js"
import type { RegistryStore } from "./store.js"
import type { LeaseTable } from "./lease-table.js"
import { lapsedAt, recordsToSweep, replicaOf } from "./sweep.js"

/**
 * Lease renewals saved in one transaction at most. A transaction writes each page of renewal rows
 * it touched once, so a few thousand renewals of a large directory cost little more than 500 did
 * (on SQLite with 100,000 endpoints, about 6 µs each at 4,096 a transaction, 12 µs at 512),
 * while a registration waiting behind them waits for a few tens of milliseconds at most.
 */
const renewalsPerTransaction = 4096

/** `criticalSince` follows the status: set when it turns critical, cleared when it leaves. */
export const withCriticalSince = (record: EndpointRecord, at: number): EndpointRecord => {
  const critical = statusOf(record) === "critical"
  return { ...record, criticalSince: critical ? (record.criticalSince ?? at) : undefined }
}

/** A status move is a change; anything else only renews what is stored. */
export const updateRecord = (journal: Journal, before: EndpointRecord, after: EndpointRecord) =>
  statusOf(after) !== statusOf(before) ? journal.apply("status", after) : journal.touch(after)

/** The records of `ids` that are still there, with any renewal taken since the last flush. */
const renewedRecords = (records: HashMap.HashMap<string, EndpointRecord>, ids: Iterable<string>, renewals: PendingRenewals) => {
  const found: Array<EndpointRecord> = []
  for (const id of ids) {
    const record = Option.getOrUndefined(HashMap.get(records, id))
    if (record !== undefined) found.push(renewals.withRenewal(record))
  }
  return found
}

/**
 * Lease upkeep: saving the renewals taken in memory, and the sweep that turns lapsed leases
 * critical and removes what stayed critical too long. The sweep looks at the lease table, never
 * at every record, and the table looks only at the leases that are due (lease-table.ts).
 */
export const makeLeaseUpkeep = (deps: {
  readonly journal: Journal
  readonly store: RegistryStore["Type"]
  readonly config: ConfigService["Type"]
  readonly cluster: Cluster["Type"]
  readonly guard: LeaseGuard
  readonly table: LeaseTable
  readonly renewals: PendingRenewals
  readonly readRenewals: (quiet: ReadonlyArray<EndpointRecord>, at: number) => Effect.Effect<ReadonlyArray<EndpointRecord>, StorageError>
}) => {
  const { cluster, config, guard, journal, renewals, store, table } = deps

  /** Writes the renewals taken since the last flush; a failed flush is tried again with the next. */
  const flushRenewals = (options: { readonly all: boolean }) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const taken = Array.from(yield* renewals.take(now, options.all))
      // In slices, each its own transaction: a registration waits for one slice, never for a whole fleet's renewals.
      for (let start = 0; start < taken.length; start += renewalsPerTransaction) {
        yield* journal.write(Effect.gen(function*() {
          const { records } = yield* journal.working
          const renewed: Array<readonly [EndpointRecord, number]> = []
          for (const [id, at] of taken.slice(start, start + renewalsPerTransaction)) {
            const record = Option.getOrUndefined(HashMap.get(records, id))
            if (record !== undefined && at > record.lastSeenAt) renewed.push([record, at])
          }
          yield* journal.renew(renewed)
        })).pipe(Effect.tapError(() => renewals.restore(new Map(taken.slice(start)), now)))
      }
    })

  /** Takes up leases renewed on other replicas (stored without a change) into this one's copy. */
  const takeUpRenewals = (renewed: ReadonlyArray<EndpointRecord>) =>
    renewed.length === 0 ? Effect.void : journal.publishQuietly((records) =>
      renewed.flatMap((stored) =>
        Option.match(HashMap.get(records, stored.registration.id), {
          onNone: () => [],
          onSome: (known) => [{ ...known, lastSeenAt: Math.max(known.lastSeenAt, stored.lastSeenAt) }]
        })
      )
    )

  const removeAfter = Effect.map(config.current, (c) => Duration.toMillis(c.registry.deregisterCriticalAfter))

  const expireLeases = (takeover: number) =>
    Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      // Alone on the database, every heartbeat came through here: nothing renewed elsewhere.
      if (cluster.shared) {
        const shown = journal.shownNow().records
        yield* takeUpRenewals(yield* deps.readRenewals(renewedRecords(shown, table.quiet(at), renewals), at))
      }
      const { expire, countingFrom } = yield* guard.judge((from) => table.counts(at, from), at, takeover)
      const rules = { countingFrom, expire, removeAfter: yield* removeAfter, replicaId: cluster.replicaId }
      const seen = table.candidates(at, rules)
      // Endpoints tied to a connection of a replica that stopped checking in lost that connection.
      const live = seen.owned.length > 0 ? yield* cluster.liveReplicas : new Set<string>()
      const orphaned = (record: EndpointRecord) => record.connection !== undefined && !live.has(replicaOf(record.connection))
      const candidates = [...seen.leases, ...seen.removals, ...seen.owned]
      if (seen.leases.length === 0 && seen.removals.length === 0 && !renewedRecords(journal.shownNow().records, seen.owned, renewals).some(orphaned)) return
      yield* journal.write(Effect.gen(function*() {
        // Judged again on the latest state, holding the write lock.
        const { leases, owned, removals } = recordsToSweep(renewedRecords((yield* journal.working).records, new Set(candidates), renewals), at, rules)
        for (const known of leases) {
          // The stored lease may have been renewed on another replica since.
          const stored = yield* store.get(known.registration.id)
          const current = stored === undefined ? known : renewals.withRenewal({ ...stored, lastSeenAt: Math.max(stored.lastSeenAt, known.lastSeenAt) })
          if (lapsedAt(current, at, countingFrom)) {
            yield* updateRecord(journal, current, withCriticalSince({ ...current, leaseStatus: "critical" }, at))
            yield* Metric.increment(leaseExpiries)
          }
        }
        for (const record of removals) {
          yield* Effect.logInfo(`removing endpoint ${record.registration.id} of ${record.service}: critical for longer than registry.deregisterCriticalAfter`)
          yield* journal.apply("deregistered", record)
          yield* countDeregistration("critical")
        }
        for (const record of owned.filter(orphaned)) {
          yield* Effect.logInfo(`removing ephemeral endpoint ${record.registration.id} of ${record.service}: its replica is gone`)
          yield* journal.apply("deregistered", record)
          yield* countDeregistration("replica-gone")
        }
      }))
    })

  return { flushRenewals, expireLeases }
}
