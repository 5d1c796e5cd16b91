import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type { Cluster } from "../cluster/service.js"
import type { ConfigService } from "../config/service.js"
import { type LeaseCounts, type ProtectionStatus, protects, transition } from "./protection.js"
import type { ProtectionStore, SharedProtection } from "./protection-store.js"

/**
 * Mass-expiry protection as the lease sweep meets it (the rule itself is in protection.ts): it
 * keeps the state between sweeps, says from when leases count, writes the log lines, and shares
 * the leader's state so that every replica shows it.
 */
export interface LeaseGuard {
  /**
   * Judges the leases at `at`, for a leader that took over at `takeover`: whether they may
   * expire, and from when their lapse counts (the takeover, or the end of protection).
   * `count` counts the leases (countLeases) with their lapse counted from the time it is given.
   */
  readonly judge: (
    count: (countingFrom: number) => LeaseCounts,
    at: number,
    takeover: number
  ) => Effect.Effect<{ readonly expire: boolean; readonly countingFrom: number }>
  /** The protection state as `GET /v1/services` shows it: the leader's, on every replica. */
  readonly status: Effect.Effect<ProtectionStatus>
}

interface GuardState extends SharedProtection {
  /** When protection last ended: leases count again from then. */
  readonly leftAt: number
  /** The leadership term the state belongs to. */
  readonly takeover: number
  /** What the other replicas were last told; undefined when they are still to be told. */
  readonly shared: string | undefined
}

const idle: SharedProtection = { active: false, leased: 0, lapsing: 0 }

const entering = (counts: LeaseCounts, threshold: number) =>
  `registry protection on: ${counts.lapsing} of ${counts.leased} leased endpoints are lapsing at once ` +
  `(more than registry.protection.threshold ${threshold}); assuming the fault is on Miko's side, ` +
  `no lease expires and no endpoint is removed until heartbeats return`

const leaving = (counts: LeaseCounts) =>
  `registry protection off: ${counts.lapsing} of ${counts.leased} leased endpoints lapsing; ` +
  `leases count again from now`

export const makeLeaseGuard = (deps: {
  readonly config: ConfigService["Type"]
  readonly cluster: Cluster["Type"]
  readonly store: ProtectionStore
}) =>
  Effect.gen(function*() {
    const { cluster, config, store } = deps
    const state = yield* Ref.make<GuardState>({ ...idle, leftAt: 0, takeover: Number.NaN, shared: undefined })
    /** The leader's state as last read from the database, on the other replicas. */
    const followed = yield* Ref.make(idle)
    const threshold = Effect.map(config.current, (c) => c.registry.protection.threshold)

    /** Tells the other replicas when something changed; they read it on their sync interval. */
    const share = (next: GuardState) => {
      const shared: SharedProtection = { active: next.active, leased: next.leased, lapsing: next.lapsing }
      const text = JSON.stringify(shared)
      return !cluster.shared || text === next.shared ? Effect.void : store.save(shared).pipe(
        Effect.zipRight(Ref.update(state, (s) => ({ ...s, shared: text }))),
        Effect.catchAll((error) => Effect.logWarning(`protection state not shared: ${error.message}`))
      )
    }

    const judge = (count: (countingFrom: number) => LeaseCounts, at: number, takeover: number) =>
      Effect.gen(function*() {
        const limit = yield* threshold
        const before = yield* Ref.get(state)
        // A new leadership term judges afresh: it tells the others and logs its own entry.
        const term = before.takeover === takeover
        const countingFrom = Math.max(takeover, before.leftAt)
        const counts = count(countingFrom)
        const active = protects(counts, limit)
        const change = transition(term && before.active, active)
        if (change === "entered") yield* Effect.logWarning(entering(counts, limit))
        if (change === "left") yield* Effect.logInfo(leaving(counts))
        const leftAt = change === "left" ? at : before.leftAt
        const next: GuardState = { active, ...counts, leftAt, takeover, shared: term ? before.shared : undefined }
        yield* Ref.set(state, next)
        yield* share(next)
        return { expire: !active, countingFrom: Math.max(countingFrom, leftAt) }
      })

    if (cluster.shared) {
      const follow = Effect.flatMap(cluster.isLeader, (leads) =>
        leads ? Effect.void : Effect.flatMap(store.load, (found) => Ref.set(followed, found ?? idle)))
      // Unreadable, the last known state stays: reads refuse to go stale past the limit anyway.
      const { syncInterval } = (yield* config.current).cluster
      yield* follow.pipe(
        Effect.catchAll((error) => Effect.logDebug(`protection state not read: ${error.message}`)),
        Effect.repeat(Schedule.spaced(syncInterval)),
        Effect.forkScoped
      )
    }

    const status = Effect.gen(function*() {
      const shown: SharedProtection = (yield* cluster.isLeader) ? yield* Ref.get(state) : yield* Ref.get(followed)
      return { active: shown.active, threshold: yield* threshold, leased: shown.leased, lapsing: shown.lapsing }
    })

    return { judge, status } satisfies LeaseGuard
  })
