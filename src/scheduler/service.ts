import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { Cluster } from "../cluster/service.js"
import { ConfigService } from "../config/service.js"
import type { StorageError } from "../storage/errors.js"
import type { Notifications } from "../storage/notifications.js"
import { makeApi, type SchedulerService } from "./api.js"
import { fromSpec } from "./definition.js"
import { clustered } from "./entry.js"
import { makeFiring } from "./firing.js"
import * as Metrics from "./metrics.js"
import type { ExecutionChange } from "./model.js"
import { makePriorityPermits } from "./permits.js"
import { makeRecorder } from "./recorder.js"
import { makeRunner } from "./runner.js"
import { makeShutdown } from "./shutdown.js"
import { layerSql, SchedulerStore } from "./store.js"
import { makeTaskSync } from "./sync.js"
import { makeTaskTable } from "./table.js"
import { makeTimeline } from "./timeline.js"

export type { SchedulerService } from "./api.js"

export class Scheduler extends Context.Tag("miko/scheduler/Scheduler")<Scheduler, SchedulerService>() {}

/** Changes kept for a slow subscriber before the oldest are dropped. */
const CHANGE_BUFFER = 16_384

/**
 * The scheduler, put together: the task table (`table.ts`) and its API (`api.ts`), firing and
 * admission (`firing.ts`), config tasks and store reloads (`sync.ts`), the controlled shutdown
 * (`shutdown.ts`). Here: what runs at start, what follows config and the store, the leader's work.
 */
const make = Effect.gen(function*() {
  const store = yield* SchedulerStore
  const config = yield* ConfigService
  const cluster = yield* Cluster
  const client = yield* HttpClient.HttpClient
  const initial = yield* config.current

  const permits = yield* makePriorityPermits(
    initial.scheduler.maxRunningTasks,
    (counts) => Effect.zipRight(Metric.set(Metrics.running, counts.running), Metric.set(Metrics.queued, counts.queued))
  )
  const recorder = yield* makeRecorder(store, Effect.map(config.current, (current) => current.scheduler.historyRetention))
  const changes = yield* PubSub.sliding<ExecutionChange>(CHANGE_BUFFER)
  const runner = yield* makeRunner({ permits, recorder, changes })
  const table = yield* makeTaskTable({ store, cluster, recorder })
  const timeline = yield* makeTimeline
  const firing = makeFiring(table, { store, cluster, runner, timeline })
  const sync = makeTaskSync(table, firing, { store, client })

  /** Runs of replicas that are gone never record their end: they are closed for them. */
  const closeDangling = Effect.gen(function*() {
    const live = yield* cluster.liveReplicas
    const closed = yield* store.closeDangling(yield* Clock.currentTimeMillis, "interrupted: Miko stopped before the run ended", live)
    if (closed > 0) yield* Effect.logWarning(`${closed} run(s) of a stopped process ended without a record: marked interrupted`)
  })
  yield* closeDangling

  for (const stored of yield* store.tasks) {
    yield* firing.register(fromSpec(stored.id, "api", stored.spec, stored.createdAt, client), { catchUp: true })
  }
  yield* sync.reconcile(initial.scheduler.tasks, true)

  yield* config.changes.pipe(
    Stream.runForEach((next) =>
      Effect.zipRight(permits.setLimit(next.scheduler.maxRunningTasks), sync.reconcile(next.scheduler.tasks, false))
    ),
    Effect.forkScoped
  )

  const { leaseTime, syncInterval } = initial.cluster
  if (cluster.shared) {
    yield* Stream.merge(store.announcements, Stream.fromSchedule(Schedule.spaced(syncInterval))).pipe(
      Stream.runForEach(() => sync.reload),
      Effect.forkScoped
    )
  }

  /**
   * The leader's share of the scheduler: on taking over, the slots the last leader left
   * unfired are caught up (for tasks that ask for it; claims keep any slot to one run); then,
   * now and then, runs of vanished replicas are closed and old claims forgotten.
   */
  const leaderWork = Effect.gen(function*() {
    for (const entry of HashMap.values(yield* Ref.get(table.tasks))) {
      if (clustered(entry) && entry.definition.catchUp) yield* firing.catchUp(entry, yield* Ref.get(entry.triggers))
    }
    const upkeep = Effect.gen(function*() {
      yield* closeDangling
      if (cluster.shared) yield* store.pruneClaims((yield* Clock.currentTimeMillis) - Duration.toMillis(Duration.days(1)))
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`scheduler upkeep failed: ${error.message}`)))
    yield* Effect.repeat(upkeep, Schedule.spaced(leaseTime))
  })
  if (cluster.shared) yield* cluster.whileLeader("scheduler catch-up and upkeep", leaderWork)

  const shutdown = yield* makeShutdown(table, { config, permits, recorder, timeline })
  yield* Effect.addFinalizer(() => shutdown)

  return Scheduler.of(makeApi(table, firing, { store, config, client, permits, recorder, changes, shutdown }))
})

/** The scheduler given a store; runs `http` tasks with the platform's fetch. */
export const layerWithoutStore: Layer.Layer<Scheduler, StorageError, SchedulerStore | ConfigService | Cluster> = Layer.scoped(
  Scheduler,
  make
).pipe(Layer.provide(FetchHttpClient.layer))

/** The scheduler with its tables in the provided `SqlClient`. */
export const layer: Layer.Layer<Scheduler, StorageError, SqlClient.SqlClient | Notifications | ConfigService | Cluster> = layerWithoutStore.pipe(
  Layer.provide(layerSql)
)
