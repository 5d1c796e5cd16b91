import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { Cluster } from "../cluster/service.js"
import { ConfigService } from "../config/service.js"
import type { StorageError } from "../storage/errors.js"
import type { Notifications } from "../storage/notifications.js"
import { type Definition, fromCode, fromSpec, type TaskDefinition } from "./definition.js"
import { type Entry, type LiveTrigger, makeEntry, view } from "./entry.js"
import { TaskExists, type TaskInvalid, TaskNotFound, TaskNotRemovable } from "./errors.js"
import * as Metrics from "./metrics.js"
import type { EventFired, Execution, ExecutionChange, RunRequested, SchedulerStatus, Task, TaskSource } from "./model.js"
import { makePriorityPermits } from "./permits.js"
import { makeRecorder } from "./recorder.js"
import { type Fire, makeRunner, type Outcome } from "./runner.js"
import { TaskSpec } from "./schema.js"
import { missedSlot, triggerSchedule, triggerWindow } from "./schedules.js"
import { layerSql, SchedulerStore } from "./store.js"
import { makeTimeline } from "./timeline.js"

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

export class Scheduler extends Context.Tag("miko/Scheduler")<Scheduler, SchedulerService>() {}

/** Changes kept for a slow subscriber before the oldest are dropped. */
const CHANGE_BUFFER = 16_384

const DEFAULT_EXECUTIONS = 50

const configTaskId = (name: string) => `config:${name}`
const encodeSpec = Schema.encodeSync(TaskSpec)

/**
 * Tasks from the API and from configuration are the cluster's: with several replicas, their
 * scheduled firings run on the leader only, each slot claimed once in the database. Tasks
 * registered in code belong to the process that registered them.
 */
const clustered = (entry: Entry) => entry.definition.source !== "code"

const make = Effect.gen(function*() {
  const store = yield* SchedulerStore
  const config = yield* ConfigService
  const cluster = yield* Cluster
  const client = yield* HttpClient.HttpClient
  // Fibers are started from the scheduler's own runtime, never from a caller's (an HTTP request's).
  const runtime = yield* Effect.runtime<never>()
  const schedulerScope = yield* Effect.scope
  const initial = yield* config.current

  const permits = yield* makePriorityPermits(
    initial.scheduler.maxRunningTasks,
    (counts) => Effect.zipRight(Metric.set(Metrics.running, counts.running), Metric.set(Metrics.queued, counts.queued))
  )
  const recorder = yield* makeRecorder(store, Effect.map(config.current, (current) => current.scheduler.historyRetention))
  const changes = yield* PubSub.sliding<ExecutionChange>(CHANGE_BUFFER)
  const runner = yield* makeRunner({ permits, recorder, changes })
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

  const timeline = yield* makeTimeline
  const runFork = Runtime.runFork(runtime)
  // A run joins its task's set and starts on the scheduler's next turn, so a caller (an HTTP
  // request raising an event, the timeline) never runs task code itself.
  const forkRun = <A, E>(runs: FiberSet.FiberSet, effect: Effect.Effect<A, E>) =>
    Effect.sync(() => FiberSet.unsafeAdd(runs, runFork(effect, { immediate: false })))

  /** Runs of replicas that are gone never record their end: they are closed for them. */
  const closeDangling = Effect.gen(function*() {
    const live = yield* cluster.liveReplicas
    const closed = yield* store.closeDangling(yield* Clock.currentTimeMillis, "interrupted: Miko stopped before the run ended", live)
    if (closed > 0) yield* Effect.logWarning(`${closed} run(s) of a stopped process ended without a record: marked interrupted`)
  })
  yield* closeDangling

  // --- views -------------------------------------------------------------------------------

  const lookup = (id: string) =>
    Effect.flatMap(Ref.get(tasks), (all) =>
      Option.match(HashMap.get(all, id), {
        onNone: () => Effect.fail(new TaskNotFound({ id, message: `no task with id ${JSON.stringify(id)}` })),
        onSome: Effect.succeed
      }))

  /** An API task's declaration as it stands now: spent one-time triggers gone, paused or not. */
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

  /** Other replicas reload the stored tasks when told (and on a timer, should the word be lost). */
  const announce = cluster.shared
    ? store.announce.pipe(Effect.catchAll((error) => Effect.logWarning(`task change not announced: ${error.message}`)))
    : Effect.void

  // --- firing ------------------------------------------------------------------------------

  const isPaused = (entry: Entry) =>
    Effect.zipWith(Ref.get(paused), Ref.get(entry.enabled), (all, enabled) => all || !enabled)

  /** Completes once neither the scheduler nor the task is paused. */
  const awaitActive = (entry: Entry) =>
    activity.changes.pipe(
      Stream.mapEffect(() => isPaused(entry)),
      Stream.filter((isHeld) => !isHeld),
      Stream.take(1),
      Stream.runDrain
    )

  const setAndSignal = (ref: Ref.Ref<boolean>, value: boolean) =>
    Effect.zipRight(Ref.set(ref, value), SubscriptionRef.update(activity, (n) => n + 1))

  type Admission = { readonly run: true } | { readonly run: false; readonly reason: string }

  /** The overlap policy decides whether a firing runs, waits behind the run going on, or is skipped. */
  const admit = (entry: Entry): Effect.Effect<Admission> =>
    Ref.modify(entry.active, (active): readonly [Admission, number] => {
      switch (entry.definition.overlap) {
        case "allow":
          return [{ run: true }, active + 1]
        case "skip":
          return active === 0
            ? [{ run: true }, 1]
            : [{ run: false, reason: "skipped: the previous run is still going (overlap: skip)" }, active]
        case "queue":
          return active < 2
            ? [{ run: true }, active + 1]
            : [{ run: false, reason: "skipped: a run is going and another is queued (overlap: queue)" }, active]
      }
    })

  /**
   * A scheduled firing of a cluster task runs where its slot is claimed: another replica that
   * fired the same slot (a leader that lost its lease mid-way) finds it taken and stands aside.
   */
  const claimed = (entry: Entry, slot: { readonly trigger: string; readonly at: number } | undefined) =>
    slot === undefined || !cluster.shared || !clustered(entry)
      ? Effect.succeed(true)
      : store.claim(entry.definition.id, slot.trigger, slot.at).pipe(
        // A claim the database did not answer is asked again: dropping it would lose the run.
        Effect.retry(Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))),
        Effect.catchAll((error) => Effect.as(Effect.logError(`task ${entry.definition.id}: slot not claimed: ${error.message}`), false))
      )

  /** Hands a firing to the task: it runs (now or after a slot frees) or is recorded as skipped. */
  const offer = (
    entry: Entry,
    fire: Fire,
    once?: number,
    slot?: { readonly trigger: string; readonly at: number }
  ): Effect.Effect<RunRequested> =>
    Effect.gen(function*() {
      const taskId = entry.definition.id
      if (yield* Ref.get(stopping)) return { taskId, outcome: "skipped" as const, message: "Miko is shutting down" }
      const admission = yield* admit(entry)
      if (!admission.run) {
        yield* runner.recordSkipped(entry.definition, fire, admission.reason)
        return { taskId, outcome: "skipped" as const, message: admission.reason }
      }
      const attempts = Effect.flatMap(
        claimed(entry, slot),
        (won): Effect.Effect<Outcome | "elsewhere"> => (won ? runner.run(entry.definition, fire) : Effect.succeed("elsewhere"))
      )
      // Under `skip` admission already keeps runs one at a time; only `queue` has a run wait for another.
      const run = (entry.lock === undefined ? attempts : entry.lock.withPermits(1)(attempts)).pipe(
        Effect.ensuring(Ref.update(entry.active, (active) => active - 1)),
        // A slot run elsewhere is spent there, and stored: this replica learns of it on reload.
        Effect.tap((outcome) =>
          once !== undefined && outcome !== "interrupted" && outcome !== "refused" && outcome !== "elsewhere" ? spend(entry, once) : Effect.void
        )
      )
      yield* forkRun(entry.runs, run)
      return { taskId, outcome: "accepted" as const, message: `${entry.definition.name}: run accepted (${fire.label})` }
    })

  /**
   * A one-time trigger is spent once its run completed (succeeded, or failed after its retries).
   * A task left without triggers is removed; its history stays readable.
   */
  const spend = (entry: Entry, key: number) =>
    Effect.gen(function*() {
      const left = yield* Ref.updateAndGet(entry.triggers, (live) => live.filter((trigger) => trigger.key !== key))
      // Removal closes the task's scope, which holds this very run: it is done from outside.
      if (left.length === 0) {
        const removal = writes.withPermits(1)(removeEntry(entry, { keepHistory: true }))
        yield* Effect.sync(() => runFork(removal, { scope: backgroundScope, immediate: false }))
      } else {
        yield* persist(entry).pipe(Effect.catchAll((error) => Effect.logError(`task ${entry.definition.id}: ${error.message}`)))
      }
    })

  /** Whether this replica fires the task's schedule: its own tasks always, the cluster's on the leader. */
  const firesHere = (entry: Entry) => (clustered(entry) ? cluster.isLeader : Effect.succeed(true))

  /** Runs on the timeline's fiber: hands the firing over, never waits. */
  const onScheduledFire = (entry: Entry, trigger: LiveTrigger, at: number) =>
    Effect.gen(function*() {
      const fire = { label: trigger.label, scheduledAt: at }
      const slot = { trigger: trigger.label, at }
      const held = yield* isPaused(entry)
      const here = yield* firesHere(entry)
      if (trigger.mode === "once") {
        // A one-time firing is not lost to a pause or to a leader's death: it waits for the
        // resume, or for this replica to lead, unless the task is spent elsewhere first.
        const offered = offer(entry, fire, trigger.key, slot)
        const ready = Effect.zipRight(clustered(entry) ? cluster.awaitLeadership : Effect.void, awaitActive(entry))
        yield* held || !here ? forkRun(entry.runs, Effect.zipRight(ready, offered)) : offered
      } else if (!held && here) {
        yield* offer(entry, fire, undefined, slot)
      }
    })

  const startTriggers = (entry: Entry, live: ReadonlyArray<LiveTrigger>) =>
    Effect.flatMap(
      Effect.forEach(live, (trigger) =>
        Option.match(triggerSchedule(trigger.trigger, entry.definition.createdAt), {
          onNone: () => Effect.succeed(Effect.void),
          onSome: (schedule) =>
            timeline.add({
              schedule,
              ...triggerWindow(trigger.trigger),
              onNext: (next) => Ref.set(trigger.next, next),
              onFire: (at) => onScheduledFire(entry, trigger, at)
            })
        })),
      (stops) => Ref.set(entry.stopTriggers, Effect.all(stops, { discard: true }))
    )

  /**
   * A periodic slot missed while the process was down fires once, at start, when the task asks
   * for it: the latest missed slot of any trigger, never one firing per slot.
   */
  const catchUp = (entry: Entry, live: ReadonlyArray<LiveTrigger>) =>
    Effect.gen(function*() {
      const { definition } = entry
      const now = yield* Clock.currentTimeMillis
      const periodic = live.filter((trigger) => trigger.mode === "periodic")
      let latest: { readonly trigger: LiveTrigger; readonly slot: number } | undefined
      for (const trigger of periodic) {
        const fired = yield* store.lastFired(definition.id, [trigger.label, `${trigger.label} (catch-up)`])
        const reference = Option.orElse(fired, () => (definition.source === "api" ? Option.some(definition.createdAt) : Option.none()))
        if (Option.isNone(reference)) continue
        const slot = missedSlot(trigger.trigger, reference.value, now)
        if (Option.isSome(slot) && (latest === undefined || slot.value > latest.slot)) latest = { trigger, slot: slot.value }
      }
      if (latest === undefined || (yield* isPaused(entry)) || !(yield* firesHere(entry))) return
      yield* Effect.logInfo(`task ${definition.id}: catching up the slot of ${new Date(latest.slot).toISOString()} missed while down`)
      yield* offer(
        entry,
        { label: `${latest.trigger.label} (catch-up)`, scheduledAt: latest.slot },
        undefined,
        { trigger: latest.trigger.label, at: latest.slot }
      )
    }).pipe(Effect.catchAll((error) => Effect.logError(`task ${entry.definition.id}: no catch-up: ${error.message}`)))

  // --- registration ------------------------------------------------------------------------

  const register = (definition: Definition, options: { readonly declared?: string; readonly catchUp: boolean }) =>
    Effect.gen(function*() {
      const entry = yield* makeEntry(definition, { parent: tasksScope, declared: options.declared })
      const live = yield* Ref.get(entry.triggers)
      yield* Ref.update(tasks, HashMap.set(definition.id, entry))
      yield* startTriggers(entry, live)
      if (options.catchUp && definition.catchUp) yield* catchUp(entry, live)
      return entry
    })

  /** Stops the triggers, interrupts the runs (they record `interrupted`), then forgets the task. */
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

  /** Brings config tasks in line with `scheduler.tasks`: new ones added, changed ones replaced, gone ones removed. */
  const reconcile = (specs: ReadonlyArray<TaskSpec>, atStart: boolean) =>
    writes.withPermits(1)(
      Effect.gen(function*() {
        const wanted = new Map(specs.map((spec) => [configTaskId(spec.name), spec]))
        const current = yield* Ref.get(tasks)
        for (const entry of HashMap.values(current)) {
          if (entry.definition.source !== "config") continue
          const spec = wanted.get(entry.definition.id)
          if (spec === undefined || JSON.stringify(encodeSpec(spec)) !== entry.declared) {
            yield* removeEntry(entry, { keepHistory: true })
          }
        }
        const now = yield* Clock.currentTimeMillis
        for (const [id, spec] of wanted) {
          const declared = JSON.stringify(encodeSpec(spec))
          const existing = HashMap.get(yield* Ref.get(tasks), id)
          if (Option.isSome(existing) && existing.value.declared === declared) continue
          if (Option.isSome(existing)) {
            yield* Effect.logError(`config task ${spec.name}: id ${id} is taken by a ${existing.value.definition.source} task`)
            continue
          }
          yield* register(fromSpec(id, "config", spec, now, client), { declared, catchUp: atStart })
        }
      })
    ).pipe(Effect.catchAll((error) => Effect.logError(`config tasks not updated: ${error.message}`)))

  // --- start -------------------------------------------------------------------------------

  for (const stored of yield* store.tasks) {
    yield* register(fromSpec(stored.id, "api", stored.spec, stored.createdAt, client), { catchUp: true })
  }
  yield* reconcile(initial.scheduler.tasks, true)

  yield* config.changes.pipe(
    Stream.runForEach((next) =>
      Effect.zipRight(permits.setLimit(next.scheduler.maxRunningTasks), reconcile(next.scheduler.tasks, false))
    ),
    Effect.forkScoped
  )

  /** The API task as stored: what `persist` writes, to compare with what the store holds. */
  const storedForm = (entry: Entry) =>
    Effect.map(
      Effect.zip(Ref.get(entry.triggers), Ref.get(entry.enabled)),
      ([live, enabled]) => JSON.stringify(encodeSpec({ ...entry.definition.spec!, triggers: live.map((t) => t.trigger), enabled }))
    )

  /**
   * Whether this replica just spent one-time triggers the store still lists: its own write of
   * that is on the way, and the task must not be started over from the older declaration.
   */
  const spentHere = (entry: Entry, stored: TaskSpec) =>
    Effect.map(Ref.get(entry.triggers), (live) => {
      const one = (trigger: TaskSpec["triggers"][number]) => JSON.stringify(encodeSpec({ ...stored, triggers: [trigger] }).triggers)
      const theirs = stored.triggers.map(one)
      const sameRest = JSON.stringify(encodeSpec(stored)) ===
        JSON.stringify(encodeSpec({ ...entry.definition.spec!, triggers: stored.triggers, enabled: stored.enabled }))
      return live.length < stored.triggers.length && live.every((t) => theirs.includes(one(t.trigger))) && sameRest
    })

  /**
   * Brings this replica's API tasks in line with the store, where other replicas create,
   * change and remove them: new ones registered, changed ones replaced (or just paused or
   * resumed), gone ones dropped without touching the store.
   */
  const reload = writes.withPermits(1)(
    Effect.gen(function*() {
      const stored = new Map((yield* store.tasks).map((task) => [task.id, task]))
      for (const entry of HashMap.values(yield* Ref.get(tasks))) {
        if (entry.definition.source !== "api") continue
        // Spent to the last trigger here: its removal is queued behind this reload.
        if ((yield* Ref.get(entry.triggers)).length === 0) {
          stored.delete(entry.definition.id)
          continue
        }
        const task = stored.get(entry.definition.id)
        if (task === undefined) {
          yield* removeEntry(entry, { keepHistory: true, stored: false })
          continue
        }
        stored.delete(entry.definition.id)
        const wanted = JSON.stringify(encodeSpec(task.spec))
        if ((yield* storedForm(entry)) === wanted || (yield* spentHere(entry, task.spec))) continue
        const { enabled, ...rest } = task.spec
        const same = JSON.stringify(encodeSpec({ ...rest, enabled: yield* Ref.get(entry.enabled) })) === (yield* storedForm(entry))
        if (same) {
          yield* setAndSignal(entry.enabled, enabled)
          continue
        }
        yield* removeEntry(entry, { keepHistory: true, stored: false })
        yield* register(fromSpec(task.id, "api", task.spec, task.createdAt, client), { catchUp: false })
      }
      for (const task of stored.values()) {
        yield* register(fromSpec(task.id, "api", task.spec, task.createdAt, client), { catchUp: false })
      }
    })
  ).pipe(
    Effect.catchAll((error) => Effect.logWarning(`tasks not reloaded: ${error.message}`)),
    // Whatever one reload meets, the next one still runs.
    Effect.catchAllDefect((defect) => Effect.logError("tasks not reloaded", defect))
  )

  const { syncInterval, leaseTime } = initial.cluster
  if (cluster.shared) {
    yield* Stream.merge(store.announcements, Stream.fromSchedule(Schedule.spaced(syncInterval))).pipe(
      Stream.runForEach(() => reload),
      Effect.forkScoped
    )
  }

  /**
   * The leader's share of the scheduler: on taking over, the slots the last leader left
   * unfired are caught up (for tasks that ask for it; claims keep any slot to one run); then,
   * now and then, runs of vanished replicas are closed and old claims forgotten.
   */
  const leaderWork = Effect.gen(function*() {
    for (const entry of HashMap.values(yield* Ref.get(tasks))) {
      if (clustered(entry) && entry.definition.catchUp) yield* catchUp(entry, yield* Ref.get(entry.triggers))
    }
    const upkeep = Effect.gen(function*() {
      yield* closeDangling
      if (cluster.shared) yield* store.pruneClaims((yield* Clock.currentTimeMillis) - Duration.toMillis(Duration.days(1)))
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`scheduler upkeep failed: ${error.message}`)))
    yield* Effect.repeat(upkeep, Schedule.spaced(leaseTime))
  })
  if (cluster.shared) yield* cluster.whileLeader("scheduler catch-up and upkeep", leaderWork)

  /**
   * Controlled shutdown: triggers stop and queued runs are refused at once; running attempts get
   * up to `general.shutdownTimeout` to finish, then are interrupted and recorded `interrupted`;
   * the record is written before storage closes. Cached: whoever comes second (the release, after
   * the standalone service started it on the signal) waits for the first run instead of a second.
   */
  const shutdown = yield* Effect.cached(Effect.gen(function*() {
    yield* Ref.set(stopping, true)
    const entries = Array.from(HashMap.values(yield* Ref.get(tasks)))
    yield* timeline.stop
    yield* permits.close
    const { running } = yield* permits.counts
    if (running > 0) {
      const timeout = (yield* config.current).general.shutdownTimeout
      yield* Effect.logInfo(`waiting up to ${Duration.format(timeout)} for ${running} running task(s)`)
      // Finalizers run uninterruptibly; the wait must be interruptible for the timeout to end it.
      const drained = yield* Effect.timeoutOption(Effect.interruptible(permits.awaitIdle), timeout)
      if (Option.isNone(drained)) {
        const left = (yield* permits.counts).running
        yield* Effect.logWarning(`interrupting ${left} task(s) still running after general.shutdownTimeout`)
      }
    }
    yield* Effect.forEach(entries, (entry) => Scope.close(entry.scope, Exit.void), { concurrency: "unbounded", discard: true })
    yield* Scope.close(backgroundScope, Exit.void)
    yield* recorder.flush
  }))
  yield* Effect.addFinalizer(() => shutdown)

  // --- the API -----------------------------------------------------------------------------

  // Under `writes`, so a reload from the store never lands between the change and its record.
  const setEnabled = (id: string, enabled: boolean) =>
    writes.withPermits(1)(
      Effect.gen(function*() {
        const entry = yield* lookup(id)
        yield* setAndSignal(entry.enabled, enabled)
        yield* persist(entry)
        return yield* view(entry)
      })
    )

  function pause(): Effect.Effect<void>
  function pause(id: string): Effect.Effect<Task, TaskNotFound | StorageError>
  function pause(id?: string): Effect.Effect<void | Task, TaskNotFound | StorageError> {
    return id === undefined ? setAndSignal(paused, true) : setEnabled(id, false)
  }
  function resume(): Effect.Effect<void>
  function resume(id: string): Effect.Effect<Task, TaskNotFound | StorageError>
  function resume(id?: string): Effect.Effect<void | Task, TaskNotFound | StorageError> {
    return id === undefined ? setAndSignal(paused, false) : setEnabled(id, true)
  }

  const removable: ReadonlyArray<TaskSource> = ["api", "code"]

  return Scheduler.of({
    add: (definition) =>
      writes.withPermits(1)(
        Effect.gen(function*() {
          const checked = yield* fromCode(definition, yield* Clock.currentTimeMillis)
          if (HashMap.has(yield* Ref.get(tasks), checked.id)) {
            return yield* new TaskExists({ id: checked.id, message: `a task with id ${JSON.stringify(checked.id)} already exists` })
          }
          return yield* view(yield* register(checked, { catchUp: true }))
        })
      ),
    create: (spec) =>
      writes.withPermits(1)(
        Effect.gen(function*() {
          const id = yield* Effect.sync(randomUUID)
          const now = yield* Clock.currentTimeMillis
          // Stored first: a task that could not be kept is not started either.
          yield* store.putTask({ id, spec, createdAt: now }, now)
          yield* announce
          return yield* view(yield* register(fromSpec(id, "api", spec, now, client), { catchUp: false }))
        })
      ),
    remove: (id, options) =>
      writes.withPermits(1)(
        Effect.gen(function*() {
          const entry = yield* lookup(id)
          const { source } = entry.definition
          if (source === "config" || !(options?.sources ?? removable).includes(source)) {
            return yield* new TaskNotRemovable({
              id,
              message: source === "config"
                ? `task ${JSON.stringify(id)} is declared in scheduler.tasks of the configuration; remove it there (or pause it)`
                : `task ${JSON.stringify(id)} is registered by the running program and cannot be removed here (pause it instead)`
            })
          }
          yield* removeEntry(entry, { keepHistory: false })
        })
      ),
    pause,
    resume,
    runNow: (id) =>
      Effect.flatMap(lookup(id), (entry) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => offer(entry, { label: "manual", scheduledAt: now }))),
    fire: (event) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const fired: Array<string> = []
        for (const entry of HashMap.values(yield* Ref.get(tasks))) {
          const live = yield* Ref.get(entry.triggers)
          const trigger = live.find((candidate) => "event" in candidate.trigger && candidate.trigger.event === event)
          if (trigger === undefined || (yield* isPaused(entry))) continue
          yield* offer(entry, { label: trigger.label, scheduledAt: now })
          fired.push(entry.definition.id)
        }
        return { event, tasks: fired.sort() }
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
    changes: Stream.fromPubSub(changes),
    status: Effect.gen(function*() {
      const counts = yield* permits.counts
      return {
        paused: yield* Ref.get(paused),
        tasks: HashMap.size(yield* Ref.get(tasks)),
        running: counts.running,
        queued: counts.queued,
        maxRunningTasks: counts.limit
      }
    }),
    shutdown
  })
})

/** The scheduler given a store; runs `http` tasks with the platform's fetch. */
export const layerWithoutStore: Layer.Layer<Scheduler, StorageError, SchedulerStore | ConfigService | Cluster> = Layer.scoped(
  Scheduler,
  make
).pipe(Layer.provide(FetchHttpClient.layer))

/** The scheduler with its tables in the provided `SqlClient`. */
export const layer: Layer.Layer<Scheduler, StorageError, SqlClient.SqlClient | Notifications | ConfigService | Cluster> = layerWithoutStore.pipe(
  Layer.provide(layerSql)
)
