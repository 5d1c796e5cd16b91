import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Config from "../../src/config/index.js"
import * as Scheduler from "../../src/scheduler/index.js"
import { layerCluster } from "../../src/service.js"
import { layerLocalNotifications, layerMigrations } from "../../src/storage/index.js"
import { freshDatabase, testDriver } from "../support/postgres.js"

/**
 * A fresh database, migrated, owned by this one process: SQLite in memory, or with MIKO_TEST_DRIVER=postgres a new
 * PostgreSQL database on the test server (MIKO_TEST_POSTGRES_URL).
 */
export const layerDatabase = Layer.merge(layerLocalNotifications, testDriver() === "postgres"
  ? Layer.provideMerge(
    layerMigrations,
    Layer.unwrapEffect(
      Effect.promise(() => freshDatabase()).pipe(Effect.map((url) => PgClient.layer({ url: Redacted.make(url) })))
    )
  )
  : Layer.provideMerge(layerMigrations, SqliteClient.layer({ filename: ":memory:" })))

/** The live config from an object, with runtime changes kept in memory. */
export const layerConfig = (config: Record<string, unknown> = {}) =>
  Config.layer.pipe(Layer.provide(Config.layerStoreMemory), Layer.provide(Config.layerFromObject(config)))

/** The scheduler on the given config, with config and database exposed to the test. */
export const layerScheduler = (config: Record<string, unknown> = {}) =>
  Scheduler.layer.pipe(
    Layer.provideMerge(layerCluster),
    Layer.provideMerge(layerConfig(config)),
    Layer.provideMerge(layerDatabase)
  )

/** The scheduler over a database the test keeps: for restarts. */
export const layerSchedulerOn = (config: Record<string, unknown> = {}) =>
  Scheduler.layer.pipe(Layer.provideMerge(layerCluster), Layer.provideMerge(layerConfig(config)))

/**
 * Runs `body` with a scheduler, then shuts the scheduler down while moving the TestClock, since
 * a controlled shutdown waits (by the Clock) for runs still going.
 */
export const withScheduler = <ROut, E2, RIn>(layer: Layer.Layer<ROut, E2, RIn>) =>
<A, E>(body: Effect.Effect<A, E, ROut>): Effect.Effect<A, E | E2, RIn> =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(layer, scope)
    const exit = yield* Effect.exit(Effect.provide(body, context))
    const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
    yield* advance("1 minute")
    yield* Fiber.join(closing)
    return yield* exit
  })

export type Database = SqlClient.SqlClient

export const at = (iso: string) => Date.parse(iso)

export const iso = (millis: number) => new Date(millis).toISOString()

/** A log of instants (by the Clock) at which something happened. */
export const makeLog = Effect.map(Ref.make<ReadonlyArray<number>>([]), (ref) => ({
  ref,
  mark: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(ref, (all) => [...all, now])),
  instants: Ref.get(ref),
  isos: Effect.map(Ref.get(ref), (all) => all.map(iso))
}))

/** Lets fibers started outside the test's own fiber tree run to their next suspension. */
export const settle = Effect.gen(function*() {
  for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
  yield* TestClock.adjust(0)
})

/**
 * Moves the TestClock forward, stopping at every pending sleep on the way, so each fiber woken
 * runs at its own instant and whatever it schedules next is seen before time moves on.
 */
export const advance = (duration: Duration.DurationInput) =>
  Effect.gen(function*() {
    const target = (yield* TestClock.currentTimeMillis) + Duration.toMillis(Duration.decode(duration))
    for (let guard = 0; guard < 1_000_000; guard++) {
      yield* settle
      const now = yield* TestClock.currentTimeMillis
      const pending = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      const next = pending.length === 0 ? undefined : Math.min(...pending)
      if (next === undefined || next > target) {
        yield* TestClock.adjust(Duration.millis(target - now))
        yield* settle
        return
      }
      yield* TestClock.adjust(Duration.millis(Math.max(0, next - now)))
    }
  })
