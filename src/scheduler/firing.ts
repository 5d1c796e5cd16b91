import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type { Cluster } from "../cluster/service.js"
import type { Definition } from "./definition.js"
import { admit, clustered, type Entry, type LiveTrigger, makeEntry } from "./entry.js"
import type { RunRequested } from "./model.js"
import type { Fire, Outcome, Runner } from "./runner.js"
import { missedSlot, triggerSchedule, triggerWindow } from "./schedules.js"
import type { TaskSpec } from "./schema.js"
import type { SchedulerStore } from "./store.js"
import type { TaskTable } from "./table.js"
import type { Timeline } from "./timeline.js"

/** A committed change of an application key, as a kvChanged trigger hears of it. */
export interface KeyChange {
  readonly key: string
  readonly version: number
  readonly index: number
  readonly deleted: boolean
}

/** A scheduled slot of a trigger, claimed in the database for cluster tasks. */
interface Slot {
  readonly trigger: string
  readonly at: number
}

/** How tasks fire: their triggers on the timeline, admission, and the hand-over to the runner. */
export interface Firing {
  /** Hands a firing to the task: it runs (now or after a slot frees) or is recorded as skipped. */
  readonly offer: (entry: Entry, fire: Fire, once?: number, slot?: Slot) => Effect.Effect<RunRequested>
  /** Adds a task to the table and starts its triggers. */
  readonly register: (
    definition: Definition,
    options: { readonly declared?: TaskSpec; readonly catchUp: boolean }
  ) => Effect.Effect<Entry>
  /**
   * Fires the task's `kvChanged` triggers whose prefix the changed key starts with, once for
   * this change: where the task fires (a cluster task on the leader), claimed by the change index.
   */
  readonly onKeyChange: (entry: Entry, change: KeyChange, now: number) => Effect.Effect<void>
  /** Fires the latest periodic slot missed while down, when the task asks for it. */
  readonly catchUp: (entry: Entry, live: ReadonlyArray<LiveTrigger>) => Effect.Effect<void>
}

export const makeFiring = (table: TaskTable, deps: {
  readonly store: SchedulerStore["Type"]
  readonly cluster: Cluster["Type"]
  readonly runner: Runner
  readonly timeline: Timeline
}): Firing => {
  const { cluster, runner, store, timeline } = deps

  /**
   * A scheduled firing of a cluster task runs where its slot is claimed: another replica that
   * fired the same slot (a leader that lost its lease mid-way) finds it taken and stands aside.
   */
  const claimed = (entry: Entry, slot: Slot | undefined) =>
    slot === undefined || !cluster.shared || !clustered(entry)
      ? Effect.succeed(true)
      : store.claim(entry.definition.id, slot.trigger, slot.at).pipe(
        // A claim the database did not answer is asked again: dropping it would lose the run.
        Effect.retry(Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))),
        Effect.catchAll((error) => Effect.as(Effect.logError(`task ${entry.definition.id}: slot not claimed: ${error.message}`), false))
      )

  const offer = (entry: Entry, fire: Fire, once?: number, slot?: Slot): Effect.Effect<RunRequested> =>
    Effect.gen(function*() {
      const taskId = entry.definition.id
      if (yield* Ref.get(table.stopping)) return { taskId, outcome: "skipped" as const, message: "Miko is shutting down" }
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
      yield* table.forkRun(entry.runs, run)
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
        yield* table.forkBackground(table.writes.withPermits(1)(table.removeEntry(entry, { keepHistory: true })))
      } else {
        yield* table.persist(entry).pipe(Effect.catchAll((error) => Effect.logError(`task ${entry.definition.id}: ${error.message}`)))
      }
    })

  /** Whether this replica fires the task's schedule: its own tasks always, the cluster's on the leader. */
  const firesHere = (entry: Entry) => (clustered(entry) ? cluster.isLeader : Effect.succeed(true))

  /** Runs on the timeline's fiber: hands the firing over, never waits. */
  const onScheduledFire = (entry: Entry, trigger: LiveTrigger, at: number) =>
    Effect.gen(function*() {
      const fire = { label: trigger.label, scheduledAt: at }
      const slot = { trigger: trigger.label, at }
      const held = yield* table.isPaused(entry)
      const here = yield* firesHere(entry)
      if (trigger.mode === "once") {
        // A one-time firing is not lost to a pause or to a leader's death: it waits for the
        // resume, or for this replica to lead, unless the task is spent elsewhere first.
        const offered = offer(entry, fire, trigger.key, slot)
        const ready = Effect.zipRight(clustered(entry) ? cluster.awaitLeadership : Effect.void, table.awaitActive(entry))
        yield* held || !here ? table.forkRun(entry.runs, Effect.zipRight(ready, offered)) : offered
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
      if (latest === undefined || (yield* table.isPaused(entry)) || !(yield* firesHere(entry))) return
      yield* Effect.logInfo(`task ${definition.id}: catching up the slot of ${new Date(latest.slot).toISOString()} missed while down`)
      yield* offer(
        entry,
        { label: `${latest.trigger.label} (catch-up)`, scheduledAt: latest.slot },
        undefined,
        { trigger: latest.trigger.label, at: latest.slot }
      )
    }).pipe(Effect.catchAll((error) => Effect.logError(`task ${entry.definition.id}: no catch-up: ${error.message}`)))

  const register = (definition: Definition, options: { readonly declared?: TaskSpec; readonly catchUp: boolean }) =>
    Effect.gen(function*() {
      const entry = yield* makeEntry(definition, { parent: table.tasksScope, declared: options.declared })
      const live = yield* Ref.get(entry.triggers)
      yield* Ref.update(table.tasks, HashMap.set(definition.id, entry))
      yield* startTriggers(entry, live)
      if (options.catchUp && definition.catchUp) yield* catchUp(entry, live)
      return entry
    })

  const onKeyChange = (entry: Entry, change: KeyChange, now: number) =>
    Effect.gen(function*() {
      const live = yield* Ref.get(entry.triggers)
      const matching = live.filter((trigger) => "kvChanged" in trigger.trigger && change.key.startsWith(trigger.trigger.kvChanged))
      if (matching.length === 0 || (yield* table.isPaused(entry)) || !(yield* firesHere(entry))) return
      const context = { key: change.key, version: String(change.version), index: String(change.index), deleted: String(change.deleted) }
      for (const trigger of matching) {
        yield* offer(entry, { label: `${trigger.label}: ${change.key}`, scheduledAt: now, context }, undefined, { trigger: trigger.label, at: change.index })
      }
    })

  return { offer, register, catchUp, onKeyChange }
}
