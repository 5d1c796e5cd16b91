import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { hostname } from "node:os"
import { ConfigService } from "../config/service.js"
import { StorageError } from "../storage/errors.js"
import { Notifications } from "../storage/notifications.js"
import type { ReplicaStatus } from "./model.js"
import { ClusterStore } from "./store.js"

const leaderLease = "leader"

/**
 * This replica among the others sharing the database. One replica at a time holds the leader
 * lease and runs the cluster-wide work; every replica checks in so the others know it lives.
 * With SQLite there is one replica, and it always leads.
 */
export class Cluster extends Context.Tag("miko/cluster/Cluster")<Cluster, {
  readonly replicaId: string
  /** Whether other replicas may share the database. */
  readonly shared: boolean
  readonly isLeader: Effect.Effect<boolean>
  /** Completes once this replica holds the lease (at once if it does). */
  readonly awaitLeadership: Effect.Effect<void>
  /**
   * Runs `work` on this replica only while it holds the lease: started when it is won,
   * interrupted when it is lost or the scope closes.
   */
  readonly whileLeader: <E, R>(name: string, work: Effect.Effect<unknown, E, R>) => Effect.Effect<void, never, R | Scope.Scope>
  /** Replicas that checked in within the lease time (only this one, when nothing is shared). */
  readonly liveReplicas: Effect.Effect<ReadonlySet<string>, StorageError>
  /** Fails once the database has been out of reach for longer than `cluster.staleReadLimit`. */
  readonly checkFresh: Effect.Effect<void, StorageError>
  readonly status: Effect.Effect<{
    readonly replica: string
    readonly leader: string | undefined
    readonly replicas: ReadonlyArray<ReplicaStatus>
  }, StorageError>
}>() {}

const newReplicaId = Effect.map(
  Random.nextIntBetween(0, 0xffffff),
  (n) => `${hostname().replace(/[^A-Za-z0-9.-]/g, "-")}-${n.toString(16).padStart(6, "0")}`
)

export const layer: Layer.Layer<Cluster, never, ClusterStore | ConfigService | Notifications> = Layer.scoped(
  Cluster,
  Effect.gen(function*() {
    const store = yield* ClusterStore
    const notifications = yield* Notifications
    const settings = (yield* (yield* ConfigService).current).cluster
    const leaseMillis = Duration.toMillis(settings.leaseTime)
    const replicaId = yield* newReplicaId
    const startedAt = yield* Clock.currentTimeMillis
    const replica = { id: replicaId, address: `${hostname()} pid ${process.pid}`, startedAt }

    const leading = yield* SubscriptionRef.make(false)
    /** When the database last answered, on this replica's clock. */
    const lastContact = yield* Ref.make(startedAt)

    const renewEvery = Duration.millis(leaseMillis / 3)
    /**
     * One renewal, answering when to try next. The lease counts from the database's clock at
     * renewal, later than this replica sends it, so stepping down on the first renewal that
     * fails (or is late) never overlaps the next leader. A replica that lost the race tries
     * again as the holder's lease runs out, so a dead leader is replaced within the lease time.
     */
    const renew = Effect.gen(function*() {
      const outcome = yield* store.acquire(leaderLease, replicaId, leaseMillis).pipe(
        Effect.timeoutFail({ duration: renewEvery, onTimeout: () => new StorageError({ message: "lease renewal timed out" }) }),
        Effect.catchAll((error) => Effect.as(Effect.logWarning(`leader lease not renewed: ${error.message}`), undefined))
      )
      const won = outcome?.won === true
      const was = yield* SubscriptionRef.get(leading)
      if (won !== was) yield* Effect.logInfo(won ? `replica ${replicaId} leads the cluster` : `replica ${replicaId} no longer leads the cluster`)
      yield* SubscriptionRef.set(leading, won)
      if (outcome === undefined || won) return renewEvery
      return Duration.min(renewEvery, Duration.millis(outcome.remaining + 10))
    })
    if (notifications.shared) {
      const first = yield* renew
      yield* renew.pipe(
        Effect.repeat(Schedule.identity<Duration.Duration>().pipe(Schedule.addDelay((next) => next))),
        Effect.delay(first),
        Effect.forkScoped
      )
    } else {
      // Alone on a SQLite file: nobody to share the work with, so no lease to keep either.
      yield* SubscriptionRef.set(leading, true)
    }

    const checkIn = store.checkIn(replica).pipe(
      Effect.timeout(Duration.max(settings.syncInterval, Duration.seconds(2))),
      Effect.zipRight(Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastContact, now))),
      Effect.catchAll((error) => Effect.logDebug(`check-in failed: ${error.message}`))
    )
    // Alone on a SQLite file there is nobody to tell and nothing to go stale.
    if (notifications.shared) {
      yield* checkIn
      // Often enough that a live replica never looks silent for a lease time.
      const every = Duration.min(settings.syncInterval, renewEvery)
      yield* checkIn.pipe(Effect.repeat(Schedule.spaced(every)), Effect.forkScoped)
    }

    // On a clean stop the lease is handed back at once instead of running out.
    if (notifications.shared) {
      yield* Effect.addFinalizer(() =>
        Effect.all([store.release(leaderLease, replicaId), store.checkOut(replicaId)], { discard: true }).pipe(
          Effect.timeout(Duration.seconds(2)),
          Effect.ignore
        )
      )
    }

    const whileLeader = <E, R>(name: string, work: Effect.Effect<unknown, E, R>) =>
      leading.changes.pipe(
        Stream.changes,
        Stream.flatMap(
          (lead) =>
            lead
              ? Stream.fromEffect(
                work.pipe(
                  Effect.catchAllCause((cause) => Effect.logError(`${name} stopped`, cause)),
                  Effect.zipRight(Effect.never)
                )
              )
              : Stream.empty,
          { switch: true }
        ),
        Stream.runDrain,
        Effect.forkScoped,
        Effect.asVoid
      )

    if (notifications.shared) {
      yield* whileLeader("replica upkeep", Effect.repeat(
        store.forgetSilent(Duration.toMillis(Duration.hours(1))).pipe(
          Effect.catchAll((error) => Effect.logWarning(error.message))
        ),
        Schedule.spaced(settings.leaseTime)
      ))
    }

    const liveReplicas = notifications.shared
      ? Effect.map(store.replicas, (rows) => new Set(rows.filter((row) => row.silentFor <= leaseMillis).map((row) => row.id)))
      : Effect.succeed(new Set([replicaId]))

    const checkFresh = !notifications.shared ? Effect.void : Effect.gen(function*() {
      const silent = (yield* Clock.currentTimeMillis) - (yield* Ref.get(lastContact))
      if (silent > Duration.toMillis(settings.staleReadLimit)) {
        return yield* new StorageError({ message: `the database has not answered for ${Math.round(silent / 1000)}s; refusing to serve stale data` })
      }
    })

    return Cluster.of({
      replicaId,
      shared: notifications.shared,
      isLeader: SubscriptionRef.get(leading),
      awaitLeadership: leading.changes.pipe(Stream.takeUntil((lead) => lead), Stream.runDrain),
      whileLeader,
      liveReplicas,
      checkFresh,
      status: notifications.shared
        ? Effect.gen(function*() {
          const leader = yield* store.holder(leaderLease)
          const rows = yield* store.replicas
          return { replica: replicaId, leader, replicas: rows.map((row) => ({ ...row, leader: row.id === leader, live: row.silentFor <= leaseMillis })) }
        })
        : Effect.succeed({ replica: replicaId, leader: replicaId, replicas: [{ ...replica, silentFor: 0, leader: true, live: true }] })
    })
  })
)
