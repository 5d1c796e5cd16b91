import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"

/**
 * A connection's subscriptions by id, each with its own way to end. A stream's subscription is a
 * fiber, interrupted; an endpoint subscription is a member of the broadcast, which writes to the
 * socket itself, and ends by leaving it: no fiber waits for it. All end with the scope.
 */
export interface SubscriptionTable {
  readonly size: Effect.Effect<number>
  readonly has: (id: string) => Effect.Effect<boolean>
  /** Keeps `id` until `end` runs: on unsubscribe, or when the connection closes. */
  readonly hold: (id: string, end: Effect.Effect<void>) => Effect.Effect<void>
  /** Runs `run` on a fiber of its own as subscription `id`, which leaves the table when it ends. */
  readonly fork: (id: string, run: Effect.Effect<unknown>) => Effect.Effect<void>
  readonly end: (id: string) => Effect.Effect<void>
  readonly endAll: Effect.Effect<void>
}

export const makeSubscriptionTable: Effect.Effect<SubscriptionTable, never, Scope.Scope> = Effect.gen(function*() {
  const scope = yield* Effect.scope
  // Only this connection's fibers touch it.
  const ends = new Map<string, Effect.Effect<void>>()
  const end = (id: string) =>
    Effect.suspend(() => {
      const ending = ends.get(id)
      ends.delete(id)
      return ending ?? Effect.void
    })
  const endAll = Effect.suspend(() => Effect.forEach([...ends.keys()], end, { discard: true }))
  yield* Scope.addFinalizer(scope, endAll)
  return {
    size: Effect.sync(() => ends.size),
    has: (id) => Effect.sync(() => ends.has(id)),
    hold: (id, ending) => Effect.sync(() => void ends.set(id, ending)),
    fork: (id, run) =>
      Effect.gen(function*() {
        const left = Effect.sync(() => {
          if (ends.get(id) === stop) ends.delete(id)
        })
        // The fiber starts once this one yields, after its entry is in the table.
        const fiber = yield* Effect.forkIn(Effect.ensuring(run, left), scope)
        const stop = Fiber.interrupt(fiber).pipe(Effect.asVoid)
        ends.set(id, stop)
      }),
    end,
    endAll
  }
})
