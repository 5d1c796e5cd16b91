import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { ConfigService } from "../config/service.js"
import type { StorageError } from "../storage/errors.js"
import type { KvVersion } from "./model.js"
import { KvStore } from "./store.js"
import { makeTable, type KvTable, type Watched } from "./table.js"
import { type WriteError, type WriteRequest, writeVersion } from "./writes.js"

/** The application keys: reads from memory, writes through the store, watches per key and prefix. */
export class Kv extends Context.Tag("miko/kv/Kv")<Kv, {
  /** What is known now, in memory: current versions, listings, change indexes. */
  readonly table: Pick<KvTable, "index" | "current" | "under" | "changedSince" | "indexOf" | "park">
  /** Completes once `watched` has changed past `since`. */
  readonly awaitChange: (watched: Watched, since: number) => Effect.Effect<void>
  /** Commits a change; it is applied here (and readable) before this completes. */
  readonly write: (request: WriteRequest) => Effect.Effect<KvVersion, WriteError | StorageError>
  readonly history: (key: string, limit: number) => Effect.Effect<ReadonlyArray<KvVersion>, StorageError>
  /**
   * The versions under `prefix` changed after `since` (the current one of each key), then every
   * later change under it as it is committed, on any replica, in index order.
   */
  readonly watch: (prefix: string, since: number) => Stream.Stream<KvVersion>
}>() {}

export const layer: Layer.Layer<Kv, StorageError, KvStore | ConfigService> = Layer.scoped(
  Kv,
  Effect.gen(function*() {
    const store = yield* KvStore
    const config = yield* ConfigService
    const loaded = yield* store.load
    const table = makeTable(loaded.index, loaded.current)
    const hub = yield* PubSub.unbounded<KvVersion>()
    // One applier at a time, so versions reach the table and the hub in index order.
    const applying = yield* Effect.makeSemaphore(1)

    const applyOne = (version: KvVersion) => Effect.suspend(() => (table.apply(version) ? PubSub.publish(hub, version) : Effect.void))
    const catchUp = Effect.flatMap(Effect.suspend(() => store.changesSince(table.index())), (versions) =>
      Effect.forEach(versions, applyOne, { discard: true }))
    /** A committed version: applied at once when it is the next one, else after reading what came between. */
    const applyCommitted = (version: KvVersion) =>
      applying.withPermits(1)(Effect.suspend(() =>
        version.index <= table.index() ? Effect.void : version.index === table.index() + 1 ? applyOne(version) : catchUp
      ))

    const { syncInterval } = (yield* config.current).cluster
    const announced = store.announcements.pipe(Stream.filter((index) => index > table.index()))
    yield* Stream.merge(announced, Stream.fromSchedule(Schedule.spaced(syncInterval))).pipe(
      Stream.runForEach(() =>
        applying.withPermits(1)(catchUp).pipe(
          Effect.catchAll((error) => Effect.logWarning(`keys not synchronized: ${error.message}`)),
          Effect.catchAllDefect((defect) => Effect.logError("keys not synchronized", defect))
        )),
      Effect.forkScoped
    )

    return Kv.of({
      table,
      awaitChange: (watched, since) =>
        Effect.async<void>((resume) => {
          const cancel = table.park(watched, since, () => resume(Effect.void))
          return Effect.sync(cancel)
        }),
      write: (request) =>
        Effect.gen(function*() {
          const { retention } = (yield* config.current).kv
          const version = yield* writeVersion(store, request, retention, new Date())
          yield* applyCommitted(version).pipe(Effect.catchAll((error) => Effect.logWarning(`keys not synchronized after a write: ${error.message}`)))
          yield* store.announce(version.index).pipe(Effect.catchAll((error) => Effect.logWarning(`key change not announced: ${error.message}`)))
          return version
        }),
      history: store.history,
      watch: (prefix, since) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const subscription = yield* PubSub.subscribe(hub)
          const seen = table.index()
          const backlog = table.changedSince(prefix, since)
          return Stream.concat(
            Stream.fromIterable(backlog),
            Stream.fromQueue(subscription).pipe(Stream.filter((version) => version.index > seen && version.key.startsWith(prefix)))
          )
        }))
    })
  })
)
