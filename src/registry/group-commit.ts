import type * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Queue from "effect/Queue"
import type { StorageError } from "../storage/errors.js"

/** Runs `body` as one durable unit: a transaction, or a savepoint inside one. */
export type Unit = <A, E>(body: Effect.Effect<A, E>) => Effect.Effect<A, E | StorageError>

/** One write waiting for its batch; each way of running it tells its caller how it ended. */
interface Waiting {
  /** Whether the caller already has its answer: it was interrupted (a client that went away) before its batch began. */
  readonly settled: Effect.Effect<boolean>
  readonly alone: (transaction: Unit) => Effect.Effect<void>
  /** Runs inside the batch's transaction; answers how to tell the caller, once the batch is durable. */
  readonly inBatch: (savepoint: Unit) => Effect.Effect<Effect.Effect<void>>
  readonly fail: (cause: Cause.Cause<StorageError>) => Effect.Effect<void>
  readonly interrupt: Effect.Effect<void>
}

/** Writes taken into one transaction at most. */
const maxBatch = 256

/**
 * Group commit: writes that arrive while a transaction is in progress wait for it, then share
 * the next one, each in its own savepoint so that one write's failure leaves the others whole.
 * Every caller is answered only once its batch committed (and was published), so throughput grows
 * with the number of writers instead of queueing them one transaction each. A write alone runs
 * in a transaction of its own, as before.
 */
export const makeGroupCommit = (units: { readonly transaction: Unit; readonly savepoint: Unit }) =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Waiting>()

    const submit = <A, E>(operation: Effect.Effect<A, E>): Effect.Effect<A, E | StorageError> =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<A, E | StorageError>()
        yield* Queue.offer(queue, {
          settled: Deferred.isDone(done),
          alone: (transaction) => Effect.flatMap(Effect.exit(transaction(operation)), (exit) => Deferred.done(done, exit)),
          inBatch: (savepoint) => Effect.map(Effect.exit(savepoint(operation)), (exit) => Effect.asVoid(Deferred.done(done, exit))),
          fail: (cause) => Deferred.failCause(done, cause),
          interrupt: Deferred.interrupt(done)
        })
        // A caller that stops waiting takes its write back, unless its batch has begun.
        return yield* Deferred.await(done).pipe(Effect.onInterrupt(() => Deferred.interrupt(done)))
      })

    const runBatch = (batch: ReadonlyArray<Waiting>): Effect.Effect<void> =>
      batch.length === 0
        ? Effect.void
        : batch.length === 1
        ? batch[0]!.alone(units.transaction)
        : Effect.flatMap(
          Effect.exit(units.transaction(Effect.forEach(batch, (waiting) => waiting.inBatch(units.savepoint)))),
          (exit) =>
            Exit.isSuccess(exit)
              ? Effect.all(exit.value, { discard: true })
              : Effect.forEach(batch, (waiting) => waiting.fail(exit.cause), { discard: true })
        )

    // Writes still queued when the directory closes are told so; a batch under way finishes first.
    yield* Effect.addFinalizer(() => Effect.flatMap(Queue.takeAll(queue), (left) => Effect.forEach(left, (waiting) => waiting.interrupt, { discard: true })))
    yield* Queue.takeBetween(queue, 1, maxBatch).pipe(
      Effect.flatMap((batch) =>
        Effect.uninterruptible(Effect.flatMap(Effect.filter(Chunk.toReadonlyArray(batch), (waiting) => Effect.negate(waiting.settled)), runBatch))
      ),
      Effect.forever,
      Effect.forkScoped
    )
    return submit
  })
