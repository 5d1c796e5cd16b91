import type * as HttpClient from "@effect/platform/HttpClient"
import { randomUUID } from "node:crypto"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import type * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { ConfigService } from "../config/service.js"
import type { StorageError } from "../storage/errors.js"
import { fromCode, fromSpec, type TaskDefinition } from "./definition.js"
import { view } from "./entry.js"
import { TaskExists, type TaskInvalid, TaskNotFound, TaskNotRemovable } from "./errors.js"
import type { Firing, KeyChange } from "./firing.js"
import type { EventFired, Execution, ExecutionChange, RunRequested, SchedulerStatus, Task, TaskSource } from "./model.js"
import type { PriorityPermits } from "./permits.js"
import type { Recorder } from "./recorder.js"
import type { TaskSpec } from "./schema.js"
import type { SchedulerStore } from "./store.js"
import type { TaskTable } from "./table.js"

/** The Effect API of the scheduler; HTTP, WebSocket and other layers call these same methods. */
export interface SchedulerService {
  /** Registers a task whose work is an Effect; it lives as long as the process. */
  readonly add: (definition: TaskDefinition) => Effect.Effect<Task, TaskInvalid | TaskExists>
  /** Creates a task from its declaration (kind `http`) and keeps it across restarts. */
  readonly create: (spec: TaskSpec) => Effect.Effect<Task, StorageError | TaskInvalid>
  /**
   * Removes a task: its triggers stop, its runs are interrupted, its history is deleted.
   * `sources` limits what may be removed (the HTTP API passes `["api"]`); config tasks never are.
   */
  readonly remove: (
    id: string,
    options?: { readonly sources?: ReadonlyArray<TaskSource> }
  ) => Effect.Effect<void, TaskNotFound | TaskNotRemovable | StorageError>
  /** Pauses one task (kept across restarts for API tasks), or with no id the whole scheduler. */
  readonly pause: {
    (): Effect.Effect<void>
    (id: string): Effect.Effect<Task, TaskNotFound | StorageError>
  }
  readonly resume: {
    (): Effect.Effect<void>
    (id: string): Effect.Effect<Task, TaskNotFound | StorageError>
  }
  /** Fires a task now, paused or not; the overlap policy still applies. */
  readonly runNow: (id: string) => Effect.Effect<RunRequested, TaskNotFound>
  /** Raises an event: every active task with an event trigger of that name fires. */
  readonly fire: (event: string) => Effect.Effect<EventFired>
  /** Runs the tasks whose kvChanged triggers cover the changed key (once per change, committed). */
  readonly fireKeyChange: (change: KeyChange) => Effect.Effect<void>
  readonly list: Effect.Effect<ReadonlyArray<Task>>
  readonly get: (id: string) => Effect.Effect<Task, TaskNotFound>
  /** A task's executions, newest first (also of a one-time task that is gone). */
  readonly executions: (id: string, limit?: number) => Effect.Effect<ReadonlyArray<Execution>, TaskNotFound | StorageError>
  /** Executions as they start and finish. A subscriber that falls far behind loses the oldest. */
  readonly changes: Stream.Stream<ExecutionChange>
  readonly status: Effect.Effect<SchedulerStatus>
  /**
   * The controlled shutdown the layer's release runs (see below). It runs once: started as soon
   * as the process is told to stop, it shares `general.shutdownTimeout` with the HTTP server's
   * draining instead of waiting for it, and the release then only waits for it to end.
   */
  readonly shutdown: Effect.Effect<void>
}

const DEFAULT_EXECUTIONS = 50

const removable: ReadonlyArray<TaskSource> = ["api", "code"]

const notRemovable = (id: string, source: TaskSource) =>
  new TaskNotRemovable({
    id,
    message: source === "config"
      ? `task ${JSON.stringify(id)} is declared in scheduler.tasks of the configuration; remove it there (or pause it)`
      : `task ${JSON.stringify(id)} is registered by the running program and cannot be removed here (pause it instead)`
  })

/** The scheduler's API over its task table; every change to the table is made under `writes`. */
export const makeApi = (table: TaskTable, firing: Firing, deps: {
  readonly store: SchedulerStore["Type"]
  readonly config: ConfigService["Type"]
  readonly client: HttpClient.HttpClient
  readonly permits: PriorityPermits
  readonly recorder: Recorder
  readonly changes: PubSub.PubSub<ExecutionChange>
  readonly shutdown: Effect.Effect<void>
}): SchedulerService => {
  const { client, config, permits, recorder, store } = deps
  const { lookup, setAndSignal, tasks, writes } = table

  // Under `writes`, so a reload from the store never lands between the change and its record.
  const setEnabled = (id: string, enabled: boolean) =>
    writes.withPermits(1)(
      Effect.gen(function*() {
        const entry = yield* lookup(id)
        yield* setAndSignal(entry.enabled, enabled)
        yield* table.persist(entry)
        return yield* view(entry)
      })
    )

  function pause(): Effect.Effect<void>
  function pause(id: string): Effect.Effect<Task, TaskNotFound | StorageError>
  function pause(id?: string): Effect.Effect<void | Task, TaskNotFound | StorageError> {
    return id === undefined ? setAndSignal(table.paused, true) : setEnabled(id, false)
  }
  function resume(): Effect.Effect<void>
  function resume(id: string): Effect.Effect<Task, TaskNotFound | StorageError>
  function resume(id?: string): Effect.Effect<void | Task, TaskNotFound | StorageError> {
    return id === undefined ? setAndSignal(table.paused, false) : setEnabled(id, true)
  }

  return {
    add: (definition) =>
      writes.withPermits(1)(
        Effect.gen(function*() {
          const checked = yield* fromCode(definition, yield* Clock.currentTimeMillis)
          if (HashMap.has(yield* Ref.get(tasks), checked.id)) {
            return yield* new TaskExists({ id: checked.id, message: `a task with id ${JSON.stringify(checked.id)} already exists` })
          }
          return yield* view(yield* firing.register(checked, { catchUp: true }))
        })
      ),
    create: (spec) =>
      writes.withPermits(1)(
        Effect.gen(function*() {
          const id = yield* Effect.sync(randomUUID)
          const now = yield* Clock.currentTimeMillis
          // Stored first: a task that could not be kept is not started either.
          yield* store.putTask({ id, spec, createdAt: now }, now)
          yield* table.announce
          return yield* view(yield* firing.register(fromSpec(id, "api", spec, now, client), { catchUp: false }))
        })
      ),
    remove: (id, options) =>
      writes.withPermits(1)(
        Effect.gen(function*() {
          const entry = yield* lookup(id)
          const { source } = entry.definition
          if (source === "config" || !(options?.sources ?? removable).includes(source)) {
            return yield* notRemovable(id, source)
          }
          yield* table.removeEntry(entry, { keepHistory: false })
        })
      ),
    pause,
    resume,
    runNow: (id) =>
      Effect.flatMap(lookup(id), (entry) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => firing.offer(entry, { label: "manual", scheduledAt: now }))),
    fire: (event) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const fired: Array<string> = []
        for (const entry of HashMap.values(yield* Ref.get(tasks))) {
          const live = yield* Ref.get(entry.triggers)
          const trigger = live.find((candidate) => "event" in candidate.trigger && candidate.trigger.event === event)
          if (trigger === undefined || (yield* table.isPaused(entry))) continue
          yield* firing.offer(entry, { label: trigger.label, scheduledAt: now })
          fired.push(entry.definition.id)
        }
        return { event, tasks: fired.sort() }
      }),
    fireKeyChange: (change) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        for (const entry of HashMap.values(yield* Ref.get(tasks))) yield* firing.onKeyChange(entry, change, now)
      }),
    list: Effect.flatMap(Ref.get(tasks), (all) =>
      Effect.map(Effect.forEach(HashMap.values(all), view), (views) =>
        views.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)))),
    get: (id) => Effect.flatMap(lookup(id), view),
    executions: (id, limit) =>
      Effect.gen(function*() {
        const known = HashMap.has(yield* Ref.get(tasks), id)
        yield* recorder.flush
        if (!known && !(yield* store.hasExecutions(id))) {
          return yield* new TaskNotFound({ id, message: `no task with id ${JSON.stringify(id)}` })
        }
        // The store may briefly hold a few more than the retention (it prunes in steps); never shown.
        const { historyRetention } = (yield* config.current).scheduler
        return yield* store.executions(id, Math.min(limit ?? DEFAULT_EXECUTIONS, historyRetention))
      }),
    changes: Stream.fromPubSub(deps.changes),
    status: Effect.gen(function*() {
      const counts = yield* permits.counts
      return {
        paused: yield* Ref.get(table.paused),
        tasks: HashMap.size(yield* Ref.get(tasks)),
        running: counts.running,
        queued: counts.queued,
        maxRunningTasks: counts.limit
      }
    }),
    shutdown: deps.shutdown
  }
}
