import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { describeParseError } from "../shared/parse-error.js"
import { TaskInvalid } from "./errors.js"
import { httpWork } from "./http-kind.js"
import type { CurrentRun } from "./run-info.js"
import type { TaskSource } from "./model.js"
import {
  defaultRetryPolicy,
  type HttpRequestSpec,
  type Overlap,
  Overlap as OverlapSchema,
  Priority,
  RetryPolicy,
  TaskName,
  type TaskSpec,
  Trigger
} from "./schema.js"

export { CurrentRun, type RunInfo } from "./run-info.js"

/** A task registered in code: the work is an Effect; it lives as long as the process. */
export interface TaskDefinition {
  /** Unique among all tasks; the name when absent, so a restarted process finds its history again. */
  readonly id?: string
  readonly name: string
  readonly description?: string
  readonly work: Effect.Effect<unknown, unknown, CurrentRun>
  readonly triggers: ReadonlyArray<Trigger>
  readonly priority?: number
  readonly retry?: Partial<RetryPolicy>
  readonly timeout?: Duration.DurationInput
  readonly overlap?: Overlap
  readonly enabled?: boolean
  readonly catchUp?: boolean
}

/** What the scheduler keeps of a task, whatever its source. */
export interface Definition {
  readonly id: string
  readonly source: TaskSource
  readonly name: string
  readonly description: string | undefined
  readonly kind: "code" | "http"
  /** The declaration of an API or config task, persisted or compared as it was given. */
  readonly spec: TaskSpec | undefined
  readonly triggers: ReadonlyArray<Trigger>
  readonly priority: number
  readonly retry: RetryPolicy
  readonly timeout: Duration.Duration | undefined
  readonly overlap: Overlap
  readonly enabled: boolean
  readonly catchUp: boolean
  readonly createdAt: number
  readonly work: Effect.Effect<unknown, unknown, CurrentRun>
}

const TriggerList = Schema.Array(Trigger).pipe(
  Schema.minItems(1, { message: () => "Expected at least one trigger" })
)

/**
 * Checks a value given in code against a Schema's own type, naming the field at fault. The
 * validator is built once per Schema: building it is far dearer than running it.
 */
const checker = <A, I>(schema: Schema.Schema<A, I>, field: string) => {
  const validate = Schema.validate(schema)
  return (value: unknown) =>
    validate(value).pipe(
      Effect.mapError((error) =>
        new TaskInvalid({
          message: describeParseError(error, [field])
        })
      )
    )
}

const checkName = checker(TaskName, "name")
const checkTriggers = checker(TriggerList, "triggers")
const checkPriority = checker(Priority, "priority")
const checkRetry = checker(RetryPolicy, "retry")
const checkOverlap = checker(OverlapSchema, "overlap")

const positiveTimeout = (timeout: Duration.DurationInput | undefined) => {
  if (timeout === undefined) return Effect.succeed(undefined)
  const decoded = Duration.decodeUnknown(timeout)
  return Option.isSome(decoded) && Duration.greaterThan(decoded.value, Duration.zero)
    ? Effect.succeed(decoded.value)
    : Effect.fail(new TaskInvalid({ message: `timeout: Expected a duration greater than zero, found ${String(timeout)}` }))
}

/** A code task's definition, checked by the same Schemas as the config file and the API. */
export const fromCode = (definition: TaskDefinition, now: number): Effect.Effect<Definition, TaskInvalid> =>
  Effect.gen(function*() {
    const name = yield* checkName(definition.name)
    const id = definition.id ?? name
    if (id.trim() === "") return yield* new TaskInvalid({ message: "id: Expected a non-empty task id" })
    return {
      id,
      source: "code",
      name,
      description: definition.description,
      kind: "code",
      spec: undefined,
      triggers: yield* checkTriggers(definition.triggers),
      priority: yield* checkPriority(definition.priority ?? 0),
      retry: yield* checkRetry({ ...defaultRetryPolicy, ...definition.retry }),
      timeout: yield* positiveTimeout(definition.timeout),
      overlap: yield* checkOverlap(definition.overlap ?? "skip"),
      enabled: definition.enabled ?? true,
      catchUp: definition.catchUp ?? false,
      createdAt: now,
      work: definition.work
    } satisfies Definition
  })

/** A task declared in config or created over the API; its Schema has already checked it. */
export const fromSpec = (
  id: string,
  source: TaskSource,
  spec: TaskSpec,
  createdAt: number,
  client: HttpClient.HttpClient
): Definition => ({
  id,
  source,
  name: spec.name,
  description: spec.description,
  kind: spec.kind,
  spec,
  triggers: spec.triggers,
  priority: spec.priority,
  retry: spec.retry,
  timeout: spec.timeout,
  overlap: spec.overlap,
  enabled: spec.enabled,
  catchUp: spec.catchUp,
  createdAt,
  work: workOfKind(spec.http, spec.timeout, client)
})

const workOfKind = (http: HttpRequestSpec, timeout: Duration.Duration | undefined, client: HttpClient.HttpClient) =>
  Effect.provideService(httpWork(http, timeout), HttpClient.HttpClient, client)
