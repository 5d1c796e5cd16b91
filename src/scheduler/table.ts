import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Cluster } from "../cluster/service.js"
import type { StorageError } from "../storage/errors.js"
import type { Entry } from "./entry.js"
import { TaskNotFound } from "./errors.js"
import type { Recorder } from "./recorder.js"
import type { SchedulerStore } from "./store.js"

/**
 * The scheduler's task table: the registered tasks, the pause switches, the lock that orders
 * changes to them, and the scopes their fibers run in. Firing, reconciling and the API all work
 * on this one table.
 */
export interface TaskTable {
  readonly tasks: Ref.Ref<HashMap.HashMap<string, Entry>>
  /** The whole scheduler's pause (of this replica). */
  readonly paused: Ref.Ref<boolean>
  /** Set once shutdown began: firings are skipped from then on. */
  readonly stopping: Ref.Ref<boolean>
  /** One change to the table at a time, so a reload from the store never lands between a change and its record. */
  readonly writes: Effect.Semaphore
  /** Where every task's scope hangs. */
  readonly tasksScope: Scope.Scope
  /** Work started on behalf of a task that must outlive it (its own removal); closed at shutdown. */
  readonly backgroundScope: Scope.CloseableScope
  readonly lookup: (id: string) => Effect.Effect<Entry, TaskNotFound>
  /** Whether the task is held, by its own pause or the scheduler's. */
  readonly isPaused: (entry: Entry) => Effect.Effect<boolean>
  /** Completes once neither the scheduler nor the task is paused. */
  readonly awaitActive: (entry: Entry) => Effect.Effect<void>
  /** Sets a pause switch and wakes what waits in `awaitActive`. */
  readonly setAndSignal: (ref: Ref.Ref<boolean>, value: boolean) => Effect.Effect<void>
  /** Starts a run in the task's set, on the scheduler's next turn. */
  readonly forkRun: <A, E>(runs: FiberSet.FiberSet, effect: Effect.Effect<A, E>) => Effect.Effect<void>
  /** Starts work in `backgroundScope`, on the scheduler's next turn. */
  readonly forkBackground: <A, E>(effect: Effect.Effect<A, E>) => Effect.Effect<void>
  /** Tells other replicas that the stored tasks changed. */
  readonly announce: Effect.Effect<void>
  /** Stores an API task's declaration as it stands now. */
  readonly persist: (entry: Entry) => Effect.Effect<void, StorageError>
  /** Stops the triggers, interrupts the runs (they record `interrupted`), then forgets the task. */
  readonly removeEntry: (
    entry: Entry,
    options: { readonly keepHistory: boolean; readonly stored?: boolean }
  ) => Effect.Effect<void, StorageError>
}

export const makeTaskTable = (deps: {
  readonly store: SchedulerStore["Type"]
  readonly cluster: Cluster["Type"]
  readonly recorder: Recorder
}): Effect.Effect<TaskTable, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { cluster, recorder, store } = deps
    // Fibers are started from the scheduler's own runtime, never from a caller's (an HTTP request's).
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const schedulerScope = yield* Effect.scope
    const tasks = yield* Ref.make(HashMap.empty<string, Entry>())
    const paused = yield* Ref.make(false)
    // Bumped on every pause and resume, of one task or all: what one-time firings held by a pause watch.
    const activity = yield* SubscriptionRef.make(0)
    const stopping = yield* Ref.make(false)
    const writes = yield* Effect.makeSemaphore(1)
    // Every task's scope hangs below this one, made before the shutdown finalizer is added: scopes
    // close in reverse order, so the tasks outlive the controlled shutdown that drains them.
    const tasksScope = yield* Scope.fork(schedulerScope, ExecutionStrategy.sequential)
    const backgroundScope = yield* Scope.fork(schedulerScope, ExecutionStrategy.sequential)

    const lookup = (id: string) =>
      Effect.flatMap(Ref.get(tasks), (all) =>
        Option.match(HashMap.get(all, id), {
          onNone: () => Effect.fail(new TaskNotFound({ id, message: `no task with id ${JSON.stringify(id)}` })),
          onSome: Effect.succeed
        }))

    const isPaused = (entry: Entry) => Effect.zipWith(Ref.get(paused), Ref.get(entry.enabled), (all, enabled) => all || !enabled)

    const awaitActive = (entry: Entry) =>
      activity.changes.pipe(
        Stream.mapEffect(() => isPaused(entry)),
        Stream.filter((isHeld) => !isHeld),
        Stream.take(1),
        Stream.runDrain
      )

    const setAndSignal = (ref: Ref.Ref<boolean>, value: boolean) =>
      Effect.zipRight(Ref.set(ref, value), SubscriptionRef.update(activity, (n) => n + 1))

    // A run joins its task's set and starts on the scheduler's next turn, so a caller (an HTTP
    // request raising an event, the timeline) never runs task code itself.
    const forkRun = <A, E>(runs: FiberSet.FiberSet, effect: Effect.Effect<A, E>) =>
      Effect.sync(() => FiberSet.unsafeAdd(runs, runFork(effect, { immediate: false })))

    const forkBackground = <A, E>(effect: Effect.Effect<A, E>) =>
      Effect.asVoid(Effect.sync(() => runFork(effect, { scope: backgroundScope, immediate: false })))

    // Other replicas reload the stored tasks when told (and on a timer, should the word be lost).
    const announce = cluster.shared
      ? store.announce.pipe(Effect.catchAll((error) => Effect.logWarning(`task change not announced: ${error.message}`)))
      : Effect.void

    // An API task's declaration as it stands now: spent one-time triggers gone, paused or not.
    const persist = (entry: Entry) =>
      Effect.gen(function*() {
        const { definition } = entry
        if (definition.source !== "api" || definition.spec === undefined) return
        const triggers = (yield* Ref.get(entry.triggers)).map((trigger) => trigger.trigger)
        // No trigger left: the task is on its way out, and a declaration needs one.
        if (triggers.length === 0) return
        const enabled = yield* Ref.get(entry.enabled)
        yield* store.putTask(
          { id: definition.id, spec: { ...definition.spec, triggers, enabled }, createdAt: definition.createdAt },
          yield* Clock.currentTimeMillis
        ).pipe(
          // The declaration was stored once already; what no longer reads back stays as it was.
          Effect.catchTag("TaskInvalid", (error) => Effect.logError(`task ${definition.id} not saved: ${error.message}`))
        )
        yield* announce
      })

    const removeEntry = (entry: Entry, options: { readonly keepHistory: boolean; readonly stored?: boolean }) =>
      Effect.gen(function*() {
        const { id, source } = entry.definition
        const current = yield* Ref.get(tasks)
        if (Option.getOrUndefined(HashMap.get(current, id)) !== entry) return
        yield* Ref.set(tasks, HashMap.remove(current, id))
        yield* Effect.flatten(Ref.get(entry.stopTriggers))
        yield* Scope.close(entry.scope, Exit.void)
        if (source === "api" && options.stored !== false) {
          yield* store.removeTask(id)
          yield* announce
        }
        // Queued behind the interrupted runs' records, so none of them outlives the delete.
        yield* recorder.forget(id, { history: !options.keepHistory })
      })

    return {
      tasks,
      paused,
      stopping,
      writes,
      tasksScope,
      backgroundScope,
      lookup,
      isPaused,
      awaitActive,
      setAndSignal,
      forkRun,
      forkBackground,
      announce,
      persist,
      removeEntry
    }
  })
