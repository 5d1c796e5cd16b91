import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type { Execution } from "./model.js"
import type { SchedulerStore } from "./store.js"

type Item =
  | { readonly _tag: "write"; readonly execution: Execution }
  | { readonly _tag: "flush"; readonly done: Deferred.Deferred<void> }
  | { readonly _tag: "forget"; readonly taskId: string; readonly history: boolean; readonly done: Deferred.Deferred<void> }

/**
 * How long the writer gathers records before committing them. SQLite commits synchronously and
 * waits for the disk; one commit every tenth of a second instead of one per record keeps those
 * pauses few and short, and a run that starts and ends within the window is written once.
 */
const WINDOW = Duration.millis(100)

/** Most items written in one transaction, so no single commit holds the process for long. */
const BATCH_ITEMS = 500

/**
 * Records executions behind the scheduler's back: a run never waits for the database. One
 * writer gathers records for a short window and writes them in one transaction. Reading the
 * history (`flush`) or forgetting a task cuts the window short.
 */
export interface Recorder {
  readonly record: (execution: Execution) => Effect.Effect<void>
  /** Completes once everything recorded before it is written. */
  readonly flush: Effect.Effect<void>
  /** After what was recorded before it: drops the task's bookkeeping and, with `history`, its executions. */
  readonly forget: (taskId: string, options: { readonly history: boolean }) => Effect.Effect<void>
}

export const makeRecorder = (
  store: SchedulerStore["Type"],
  retention: Effect.Effect<number>
): Effect.Effect<Recorder, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Item>()
    // Rows added per task since its last prune; only the writer fiber touches it.
    const unpruned = new Map<string, number>()

    // A database that fails must not stop the scheduler: the runs happened, only their record is lost.
    const logFailure = (error: { readonly message: string }) => Effect.logError(`executions not recorded: ${error.message}`)

    const writeAll = (latest: ReadonlyMap<string, Execution>, touched: ReadonlySet<string>) =>
      Effect.gen(function*() {
        if (latest.size === 0) return
        const keep = yield* retention
        // Pruning after every row would cost a DELETE per run; a tenth of the retention in slack
        // makes it one per `keep / 10` runs of a task. Reads never return more than `keep`.
        const due = Array.from(touched).filter((taskId) => (unpruned.get(taskId) ?? 0) >= Math.max(1, Math.ceil(keep / 10)))
        for (const taskId of due) unpruned.delete(taskId)
        yield* store.writeExecutions(Array.from(latest.values())).pipe(
          Effect.zipRight(Effect.forEach(due, (taskId) => store.prune(taskId, keep), { discard: true })),
          Effect.catchAll(logFailure)
        )
      })

    const writeBatch = (items: Chunk.Chunk<Item>) =>
      Effect.gen(function*() {
        let latest = new Map<string, Execution>()
        let touched = new Set<string>()
        for (const item of items) {
          switch (item._tag) {
            case "write": {
              const { execution } = item
              latest.set(execution.id, execution)
              // An execution's first record (started, or skipped) adds a row; its end updates that row.
              if (execution.status === "running" || execution.status === "skipped") {
                unpruned.set(execution.taskId, (unpruned.get(execution.taskId) ?? 0) + 1)
                touched.add(execution.taskId)
              }
              break
            }
            case "flush": {
              yield* writeAll(latest, touched)
              latest = new Map()
              touched = new Set()
              yield* Deferred.succeed(item.done, undefined)
              break
            }
            case "forget": {
              yield* writeAll(latest, touched)
              latest = new Map()
              touched = new Set()
              unpruned.delete(item.taskId)
              if (item.history) yield* store.forgetExecutions(item.taskId).pipe(Effect.catchAll(logFailure))
              yield* Deferred.succeed(item.done, undefined)
              break
            }
          }
        }
        yield* writeAll(latest, touched)
      })

    // Flushes and forgets queued and not yet handled: while there are any, the writer does not wait.
    const urgent = yield* Ref.make(0)
    // Completed to cut the writer's current window short.
    const wake = yield* Ref.make(yield* Deferred.make<void>())

    const gather = Effect.gen(function*() {
      if ((yield* Ref.get(urgent)) > 0) return
      const signal = yield* Deferred.make<void>()
      yield* Ref.set(wake, signal)
      // Looked at again after `wake` is set: a flush queued in between has already signalled the old one.
      if ((yield* Ref.get(urgent)) > 0) return
      yield* Effect.raceFirst(Effect.sleep(WINDOW), Deferred.await(signal))
    })

    yield* Effect.gen(function*() {
      const first = yield* Queue.take(queue)
      if (Predicate.isTagged(first, "write")) yield* gather
      const rest = yield* Queue.takeUpTo(queue, BATCH_ITEMS - 1)
      const items = Chunk.prepend(rest, first)
      yield* writeBatch(items)
      const handled = Chunk.reduce(items, 0, (count, item) => (Predicate.isTagged(item, "write") ? count : count + 1))
      if (handled > 0) yield* Ref.update(urgent, (n) => n - handled)
    }).pipe(Effect.forever, Effect.forkScoped)

    const enqueueAndWait = (item: (done: Deferred.Deferred<void>) => Item) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<void>()
        yield* Ref.update(urgent, (n) => n + 1)
        yield* Queue.offer(queue, item(done))
        yield* Effect.flatMap(Ref.get(wake), (signal) => Deferred.succeed(signal, undefined))
        yield* Deferred.await(done)
      })

    return {
      record: (execution) => Effect.asVoid(Queue.offer(queue, { _tag: "write", execution })),
      flush: enqueueAndWait((done) => ({ _tag: "flush", done })),
      forget: (taskId, options) => enqueueAndWait((done) => ({ _tag: "forget", taskId, history: options.history, done }))
    }
  })
