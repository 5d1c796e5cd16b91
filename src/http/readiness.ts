import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * Whether the process is shutting down. Set first on a signal, so `/readyz` turns false and
 * long waits (blocking queries, subscriptions) return before the server closes.
 */
export class Lifecycle extends Context.Tag("miko/http/Lifecycle")<Lifecycle, {
  readonly beginShutdown: Effect.Effect<void>
  readonly isShuttingDown: Effect.Effect<boolean>
  /** Completes when shutdown begins. */
  readonly shutdown: Effect.Effect<void>
}>() {}

export const layerLifecycle: Layer.Layer<Lifecycle> = Layer.effect(
  Lifecycle,
  Effect.map(Deferred.make<void>(), (signal) =>
    Lifecycle.of({
      beginShutdown: Effect.asVoid(Deferred.succeed(signal, undefined)),
      isShuttingDown: Deferred.isDone(signal),
      shutdown: Deferred.await(signal)
    }))
)
