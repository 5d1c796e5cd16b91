import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "../lifecycle/index.js"
import { connections } from "./metrics.js"

/** What the hub does for one open connection, on the hub's own pace. */
export interface Member {
  /** Pings the peer, or ends a connection whose peer stopped answering pings. */
  readonly keepAlive: Effect.Effect<void>
  /** At shutdown: stops the subscriptions, lets what is queued go out (briefly), closes with 1001. */
  readonly goAway: Effect.Effect<void>
}

/**
 * Open connections: counted against `websocket.maxConnections`, pinged by one loop every
 * `websocket.pingInterval` and told to go away by one fiber at shutdown, rather than by two
 * fibers of their own each (a thousand idle connections are a thousand entries here, not
 * two thousand sleeping fibers).
 */
export class WebSocketHub extends Context.Tag("miko/websocket/WebSocketHub")<WebSocketHub, {
  readonly open: Ref.Ref<number>
  /** Counts a connection as open for as long as the scope lasts. */
  readonly count: Effect.Effect<void, never, Scope.Scope>
  readonly nextId: Effect.Effect<string>
  /** Puts a connection in the ping and shutdown rounds for as long as the scope lasts. */
  readonly join: (id: string, member: Member) => Effect.Effect<void, never, Scope.Scope>
}>() {}

export const layerHub: Layer.Layer<WebSocketHub, never, ConfigService | Lifecycle> = Layer.scoped(
  WebSocketHub,
  Effect.gen(function*() {
    const config = yield* ConfigService
    const lifecycle = yield* Lifecycle
    const counter = yield* Ref.make(0)
    // Only this layer's fibers and the connections' own scopes touch it.
    const members = new Map<string, Member>()
    const everyone = (act: (member: Member) => Effect.Effect<void>) =>
      Effect.suspend(() => Effect.forEach([...members.values()], act, { concurrency: "unbounded", discard: true }))

    yield* Effect.flatMap(config.current, ({ websocket }) => Effect.sleep(websocket.pingInterval)).pipe(
      Effect.zipRight(everyone((member) => member.keepAlive)),
      Effect.forever,
      Effect.forkScoped
    )
    yield* lifecycle.shutdown.pipe(Effect.zipRight(everyone((member) => member.goAway)), Effect.forkScoped)

    const open = yield* Ref.make(0)
    // Built once: a finalizer per open connection should not be an effect of its own.
    const left = Effect.zipRight(Ref.update(open, (n) => n - 1), Metric.incrementBy(connections, -1))

    return WebSocketHub.of({
      open,
      count: Effect.uninterruptible(Effect.flatMap(Effect.scope, (scope) =>
        Effect.zipRight(
          Effect.zipRight(Ref.update(open, (n) => n + 1), Metric.increment(connections)),
          Scope.addFinalizer(scope, left)
        ))),
      nextId: Effect.map(Ref.updateAndGet(counter, (n) => n + 1), (n) => `ws-${n}`),
      join: (id, member) =>
        Effect.gen(function*() {
          members.set(id, member)
          // A plain finalizer: one per open connection, so no copy of the fiber's state.
          yield* Scope.addFinalizer(yield* Effect.scope, Effect.sync(() => members.delete(id)))
          // Joined as shutdown began: the round at shutdown may have missed it.
          if (yield* lifecycle.isShuttingDown) yield* Effect.forkScoped(member.goAway)
        })
    })
  })
)
