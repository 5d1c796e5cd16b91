import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
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
   * Holds shutdown for as long as the scope lasts: a long-lived session (a WebSocket
   * connection) is told through `shutdown` and gets to say goodbye before the server goes away.
   */
  readonly hold: Effect.Effect<void, never, Scope.Scope>
  /** Completes once no session is held. */
  readonly drained: Effect.Effect<void>
}>() {}

export const layerLifecycle: Layer.Layer<Lifecycle> = Layer.effect(
  Lifecycle,
  Effect.gen(function*() {
    const signal = yield* Deferred.make<void>()
    const held = yield* SubscriptionRef.make(0)
    const release = SubscriptionRef.update(held, (n) => n - 1)
    return Lifecycle.of({
      beginShutdown: Effect.asVoid(Deferred.succeed(signal, undefined)),
      isShuttingDown: Deferred.isDone(signal),
      shutdown: Deferred.await(signal),
      // A plain finalizer of the scope: held once per WebSocket connection, so it keeps no copy of the fiber's state.
      hold: Effect.uninterruptible(Effect.flatMap(Effect.scope, (scope) =>
        Effect.zipRight(
          SubscriptionRef.update(held, (n) => n + 1),
          Scope.addFinalizer(scope, release)
        ))),
      drained: held.changes.pipe(Stream.takeUntil((n) => n === 0), Stream.runDrain)
    })
  })
)
