import * as Arr from "effect/Array"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type { Definition } from "./definition.js"
import type { Task } from "./model.js"
import { triggerLabel, triggerMode, type TriggerMode } from "./schedules.js"
import type { TaskSpec, Trigger } from "./schema.js"

export interface LiveTrigger {
  readonly key: number
  readonly trigger: Trigger
  readonly label: string
  readonly mode: TriggerMode
  /** The next instant it fires, as its Schedule last decided. */
  readonly next: Ref.Ref<Option.Option<number>>
}

/** A registered task and its running machinery. */
export interface Entry {
  readonly definition: Definition
  /** The declaration of a config task: a config change that alters it re-registers the task. */
  readonly declared: TaskSpec | undefined
  readonly triggers: Ref.Ref<ReadonlyArray<LiveTrigger>>
  /** False while the task is paused. */
  readonly enabled: Ref.Ref<boolean>
  /** Runs admitted and not finished, waiting ones included: what the overlap policy looks at. */
  readonly active: Ref.Ref<number>
  /** Serializes runs under the `queue` policy (only): the waiting run starts when the one going on ends. */
  readonly lock: Effect.Semaphore | undefined
  /** Closing it interrupts the runs (`runs`). */
  readonly scope: Scope.CloseableScope
  readonly runs: FiberSet.FiberSet
  /** Takes the task's triggers off the timeline. */
  readonly stopTriggers: Ref.Ref<Effect.Effect<void>>
}

/** The live state of a newly registered task; its triggers are not started yet. */
export const makeEntry = (
  definition: Definition,
  options: { readonly parent: Scope.Scope; readonly declared?: TaskSpec | undefined }
): Effect.Effect<Entry> =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(options.parent, ExecutionStrategy.sequential)
    const live = yield* Effect.forEach(definition.triggers, (trigger, key) =>
      Effect.map(Ref.make(Option.none<number>()), (next): LiveTrigger => ({
        key,
        trigger,
        label: triggerLabel(trigger),
        mode: triggerMode(trigger),
        next
      })))
    return {
      definition,
      declared: options.declared,
      triggers: yield* Ref.make<ReadonlyArray<LiveTrigger>>(live),
      enabled: yield* Ref.make(definition.enabled),
      active: yield* Ref.make(0),
      lock: definition.overlap === "queue" ? yield* Effect.makeSemaphore(1) : undefined,
      scope,
      runs: yield* Scope.extend(FiberSet.make(), scope),
      stopTriggers: yield* Ref.make(Effect.void)
    }
  })

/**
 * Tasks from the API and from configuration are the cluster's: with several replicas, their
 * scheduled firings run on the leader only, each slot claimed once in the database. Tasks
 * registered in code belong to the process that registered them.
 */
export const clustered = (entry: Entry) => entry.definition.source !== "code"

export type Admission = { readonly run: true } | { readonly run: false; readonly reason: string }

/** The overlap policy decides whether a firing runs, waits behind the run going on, or is skipped. */
export const admit = (entry: Entry): Effect.Effect<Admission> =>
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

/** A task as `list` and `get` show it. */
export const view = (entry: Entry): Effect.Effect<Task> =>
  Effect.gen(function*() {
    const { definition } = entry
    const live = yield* Ref.get(entry.triggers)
    const upcoming = Arr.getSomes(yield* Effect.forEach(live, (trigger) => Ref.get(trigger.next)))
    return {
      id: definition.id,
      name: definition.name,
      ...(definition.description === undefined ? {} : { description: definition.description }),
      kind: definition.kind,
      source: definition.source,
      ...(definition.spec === undefined ? {} : { http: definition.spec.http }),
      triggers: live.map((trigger) => trigger.trigger),
      priority: definition.priority,
      retry: definition.retry,
      ...(definition.timeout === undefined ? {} : { timeout: definition.timeout }),
      overlap: definition.overlap,
      enabled: yield* Ref.get(entry.enabled),
      catchUp: definition.catchUp,
      createdAt: DateTime.unsafeMake(definition.createdAt),
      running: yield* Ref.get(entry.active),
      ...(upcoming.length === 0 ? {} : { nextRunAt: DateTime.unsafeMake(Math.min(...upcoming)) })
    }
  })
