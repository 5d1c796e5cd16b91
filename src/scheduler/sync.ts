import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import { fromSpec } from "./definition.js"
import type { Entry } from "./entry.js"
import type { Firing } from "./firing.js"
import { TaskSpec, Trigger } from "./schema.js"
import type { SchedulerStore } from "./store.js"
import type { TaskTable } from "./table.js"

const configTaskId = (name: string) => `config:${name}`
const sameSpec = Schema.equivalence(TaskSpec)
const sameTrigger = Schema.equivalence(Trigger)

/**
 * Keeps the task table in line with what is declared elsewhere: config tasks with
 * `scheduler.tasks`, API tasks with the store other replicas write to.
 */
export interface TaskSync {
  /** Brings config tasks in line with `scheduler.tasks`: new ones added, changed ones replaced, gone ones removed. */
  readonly reconcile: (specs: ReadonlyArray<TaskSpec>, atStart: boolean) => Effect.Effect<void>
  /**
   * Brings this replica's API tasks in line with the store, where other replicas create,
   * change and remove them: new ones registered, changed ones replaced (or just paused or
   * resumed), gone ones dropped without touching the store.
   */
  readonly reload: Effect.Effect<void>
}

/** The API task as stored: what `persist` writes, to compare with what the store holds. */
const storedForm = (entry: Entry, spec: TaskSpec) =>
  Effect.map(
    Effect.zip(Ref.get(entry.triggers), Ref.get(entry.enabled)),
    ([live, enabled]): TaskSpec => ({ ...spec, triggers: live.map((trigger) => trigger.trigger), enabled })
  )

/**
 * Whether this replica just spent one-time triggers the store still lists: its own write of
 * that is on the way, and the task must not be started over from the older declaration.
 */
const spentHere = (entry: Entry, spec: TaskSpec, stored: TaskSpec) =>
  Effect.map(Ref.get(entry.triggers), (live) =>
    live.length < stored.triggers.length &&
    live.every((trigger) => stored.triggers.some((theirs) => sameTrigger(theirs, trigger.trigger))) &&
    sameSpec(stored, { ...spec, triggers: stored.triggers, enabled: stored.enabled }))

export const makeTaskSync = (table: TaskTable, firing: Firing, deps: {
  readonly store: SchedulerStore["Type"]
  readonly client: HttpClient.HttpClient
}): TaskSync => {
  const { client, store } = deps

  const reconcile = (specs: ReadonlyArray<TaskSpec>, atStart: boolean) =>
    table.writes.withPermits(1)(
      Effect.gen(function*() {
        const wanted = new Map(specs.map((spec) => [configTaskId(spec.name), spec]))
        for (const entry of HashMap.values(yield* Ref.get(table.tasks))) {
          if (entry.definition.source !== "config") continue
          const spec = wanted.get(entry.definition.id)
          if (spec === undefined || entry.declared === undefined || !sameSpec(spec, entry.declared)) {
            yield* table.removeEntry(entry, { keepHistory: true })
          }
        }
        const now = yield* Clock.currentTimeMillis
        for (const [id, spec] of wanted) {
          const existing = HashMap.get(yield* Ref.get(table.tasks), id)
          if (Option.isNone(existing)) {
            yield* firing.register(fromSpec(id, "config", spec, now, client), { declared: spec, catchUp: atStart })
            continue
          }
          const { declared, definition } = existing.value
          if (declared === undefined || !sameSpec(declared, spec)) {
            yield* Effect.logError(`config task ${spec.name}: id ${id} is taken by a ${definition.source} task`)
          }
        }
      })
    ).pipe(Effect.catchAll((error) => Effect.logError(`config tasks not updated: ${error.message}`)))

  /** One API task against its stored form: kept, paused or resumed, or registered again. */
  const follow = (entry: Entry, spec: TaskSpec, task: { readonly id: string; readonly spec: TaskSpec; readonly createdAt: number }) =>
    Effect.gen(function*() {
      const ours = yield* storedForm(entry, spec)
      if (sameSpec(ours, task.spec) || (yield* spentHere(entry, spec, task.spec))) return
      if (sameSpec(ours, { ...task.spec, enabled: ours.enabled })) {
        yield* table.setAndSignal(entry.enabled, task.spec.enabled)
        return
      }
      yield* table.removeEntry(entry, { keepHistory: true, stored: false })
      yield* firing.register(fromSpec(task.id, "api", task.spec, task.createdAt, client), { catchUp: false })
    })

  const reload = table.writes.withPermits(1)(
    Effect.gen(function*() {
      const stored = new Map((yield* store.tasks).map((task) => [task.id, task]))
      for (const entry of HashMap.values(yield* Ref.get(table.tasks))) {
        const { id, source, spec } = entry.definition
        if (source !== "api") continue
        const task = stored.get(id)
        stored.delete(id)
        // Spent to the last trigger here: its removal is queued behind this reload.
        if (spec === undefined || (yield* Ref.get(entry.triggers)).length === 0) continue
        if (task === undefined) yield* table.removeEntry(entry, { keepHistory: true, stored: false })
        else yield* follow(entry, spec, task)
      }
      for (const task of stored.values()) {
        yield* firing.register(fromSpec(task.id, "api", task.spec, task.createdAt, client), { catchUp: false })
      }
    })
  ).pipe(
    Effect.catchAll((error) => Effect.logWarning(`tasks not reloaded: ${error.message}`)),
    // Whatever one reload meets, the next one still runs.
    Effect.catchAllDefect((defect) => Effect.logError("tasks not reloaded", defect))
  )

  return { reconcile, reload }
}
