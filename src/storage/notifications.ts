import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type { StorageError } from "./errors.js"

/**
 * Short messages between the replicas sharing one database: "the change index is now 42".
 * A hint, never the data itself: a receiver reads what changed from the database, and a
 * periodic check covers any message that was lost.
 */
export class Notifications extends Context.Tag("miko/storage/Notifications")<Notifications, {
  /** Whether other processes share this database (and so may send messages). */
  readonly shared: boolean
  readonly publish: (channel: string, payload: string) => Effect.Effect<void, StorageError>
  /** Messages on a channel from any replica, this one included, while subscribed. */
  readonly subscribe: (channel: string) => Stream.Stream<string>
}>() {}

/** One process owns the database: messages stay in memory. */
export const layerLocal: Layer.Layer<Notifications> = Layer.scoped(
  Notifications,
  Effect.gen(function*() {
    const hub = yield* PubSub.unbounded<{ readonly channel: string; readonly payload: string }>()
    return Notifications.of({
      shared: false,
      publish: (channel, payload) => PubSub.publish(hub, { channel, payload }).pipe(Effect.asVoid),
      subscribe: (channel) =>
        Stream.fromPubSub(hub).pipe(
          Stream.filter((message) => message.channel === channel),
          Stream.map((message) => message.payload)
        )
    })
  })
)
