import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"

/**
 * Whether the process is shutting down. Set first on a signal, so `/readyz` turns false and
 * long waits (blocking queries, subscriptions) return before the server closes.
 */
export class Lifecycle extends Context.Tag("miko/lifecycle/Lifecycle")<Lifecycle, {
  readonly beginShutdown: Effect.Effect<void>
  readonly isShuttingDown: Effect.Effect<boolean>
  /** Completes when shutdown begins. */
  readonly shutdown: Effect.Effect<void>
  /**
   * Runs a long-lived session (a WebSocket connection) that shutdown waits for: it is told
   * through `shutdown` and gets to say goodbye before the server goes away.
   */
  readonly hold: <A, E, R>(session: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Completes once no session is held. */
  readonly drained: Effect.Effect<void>
}>() {}

export const layerLifecycle: Layer.Layer<Lifecycle> = Layer.effect(
  Lifecycle,
  Effect.gen(function*() {
    const signal = yield* Deferred.make<void>()
    const held = yield* SubscriptionRef.make(0)
    return Lifecycle.of({
      beginShutdown: Effect.asVoid(Deferred.succeed(signal, undefined)),
      isShuttingDown: Deferred.isDone(signal),
      shutdown: Deferred.await(signal),
      hold: (session) =>
        Effect.acquireUseRelease(
          SubscriptionRef.update(held, (n) => n + 1),
          () => session,
          () => SubscriptionRef.update(held, (n) => n - 1)
        ),
      drained: held.changes.pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)
    })
  })
)
