import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import { CurrentRun, type Definition } from "./definition.js"
import * as Metrics from "./metrics.js"
import type { Execution, ExecutionChange, ExecutionStatus } from "./model.js"
import type { PriorityPermits } from "./permits.js"
import type { Recorder } from "./recorder.js"
import { makeStepper, retrySchedule, sleepUntil } from "./schedules.js"

/** One firing of a task: which trigger, and the instant it was due. */
export interface Fire {
  readonly label: string
  readonly scheduledAt: number
  /** What the firing is about (the changed key of a kvChanged trigger); see RunInfo.context. */
  readonly context?: Readonly<Record<string, string>> | undefined
}

/** How a run ended; `refused` when shutdown came before it got a slot. */
export type Outcome = "succeeded" | "failed" | "timed-out" | "interrupted" | "refused"

/** Errors and results are kept short: history is for reading, not for payloads. */
const MAX_TEXT = 2_000

const clip = (text: string) => (text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text)

const describeError = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (error instanceof Error) return clip(error.message || error.name)
  if (typeof error === "object" && error !== null) {
    if ("message" in error && typeof error.message === "string" && error.message !== "") return clip(error.message)
    if (Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag)) return error._tag
  }
  return clip(Either.getOrElse(Either.try(() => JSON.stringify(error)), () => String(error)) ?? String(error))
}

const describeResult = (value: unknown): string | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return clip(value)
  return Either.match(Either.try(() => JSON.stringify(value)), {
    onLeft: () => clip(String(value)),
    onRight: (text) => (text === undefined ? undefined : clip(text))
  })
}

const instant = (millis: number) => DateTime.unsafeMake(millis)

/** Execution ids sort by start, then by creation within the process: "newest first" is `ORDER BY id DESC`. */
const executionId = (startedAt: number, seq: number) =>
  Math.max(0, Math.floor(startedAt)).toString(36).padStart(9, "0") + (seq % 36 ** 6).toString(36).padStart(6, "0")

/**
 * Runs firings: each attempt waits for a slot by priority, runs the work with its timeout,
 * records its start and end, and a failed attempt is retried on the task's retry Schedule.
 */
export const makeRunner = (options: {
  readonly permits: PriorityPermits
  readonly recorder: Recorder
  readonly changes: PubSub.PubSub<ExecutionChange>
}) =>
  Effect.gen(function*() {
    const { changes, permits, recorder } = options
    const sequence = yield* Ref.make(0)
    const nextId = (startedAt: number) => Effect.map(Ref.getAndUpdate(sequence, (n) => n + 1), (seq) => executionId(startedAt, seq))

    const emit = (type: ExecutionChange["type"], execution: Execution) =>
      Effect.zipRight(recorder.record(execution), PubSub.publish(changes, { type, execution }))

    const finish = (execution: Execution, endedAt: number, status: ExecutionStatus, detail: {
      readonly error?: string | undefined
      readonly result?: string | undefined
    }) => {
      const ended: Execution = {
        ...execution,
        endedAt: instant(endedAt),
        status,
        ...(detail.error === undefined ? {} : { error: detail.error }),
        ...(detail.result === undefined ? {} : { result: detail.result })
      }
      const seconds = Math.max(0, endedAt - DateTime.toEpochMillis(execution.startedAt)) / 1_000
      return emit("finished", ended).pipe(
        Effect.zipRight(Metrics.countRun(status)),
        Effect.zipRight(Metrics.duration(Effect.succeed(seconds)))
      )
    }

    /** A firing not run because of the overlap policy (or shutdown) is recorded as `skipped`. */
    const recordSkipped = (definition: Definition, fire: Fire, reason: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const execution: Execution = {
          id: yield* nextId(now),
          taskId: definition.id,
          trigger: fire.label,
          attempt: 1,
          scheduledAt: instant(fire.scheduledAt),
          startedAt: instant(now),
          endedAt: instant(now),
          status: "skipped",
          error: reason
        }
        yield* emit("finished", execution)
        yield* Metrics.countRun("skipped")
      })

    const runWork = (definition: Definition, execution: Execution, context: Readonly<Record<string, string>>) => {
      const work = Effect.exit(
        Effect.provideService(definition.work, CurrentRun, {
          taskId: definition.id,
          executionId: execution.id,
          attempt: execution.attempt,
          trigger: execution.trigger,
          scheduledAt: DateTime.toEpochMillis(execution.scheduledAt),
          context
        })
      )
      // `None` when the timeout struck first: the work was interrupted.
      return definition.timeout === undefined ? Effect.map(work, Option.some) : Effect.timeoutOption(work, definition.timeout)
    }

    const attemptOnce = (definition: Definition, fire: Fire, attempt: number, dueAt: number) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          // Waiting for a slot may be interrupted (removal, shutdown); running may be too, and is then recorded.
          const granted = yield* restore(permits.acquire(definition.priority))
          if (!granted) return "refused" as const
          const startedAt = yield* Clock.currentTimeMillis
          const execution: Execution = {
            id: yield* nextId(startedAt),
            taskId: definition.id,
            trigger: fire.label,
            attempt,
            scheduledAt: instant(dueAt),
            startedAt: instant(startedAt),
            status: "running"
          }
          yield* emit("started", execution)
          yield* Metrics.lateness(Effect.succeed(Math.max(0, startedAt - dueAt) / 1_000))
          const exit = yield* Effect.exit(
            restore(runWork(definition, execution, fire.context ?? {})).pipe(
              Effect.annotateLogs({ task: definition.id, execution: execution.id }),
              Effect.withSpan("scheduler.run", {
                root: true,
                // The call site is always this line: capturing it on every run only costs time.
                captureStackTrace: false,
                attributes: { "task.id": definition.id, "task.name": definition.name, "execution.id": execution.id, attempt }
              })
            )
          )
          yield* permits.release
          const endedAt = yield* Clock.currentTimeMillis
          if (Exit.isFailure(exit)) {
            yield* finish(execution, endedAt, "interrupted", { error: "interrupted: the task was removed or Miko shut down" })
            return "interrupted" as const
          }
          if (Option.isNone(exit.value)) {
            const limit = Duration.format(definition.timeout ?? Duration.zero)
            yield* finish(execution, endedAt, "timed-out", { error: `timed out after ${limit}` })
            return "timed-out" as const
          }
          const workExit = exit.value.value
          if (Exit.isSuccess(workExit)) {
            yield* finish(execution, endedAt, "succeeded", { result: describeResult(workExit.value) })
            return "succeeded" as const
          }
          if (Cause.isInterruptedOnly(workExit.cause)) {
            yield* finish(execution, endedAt, "interrupted", { error: "interrupted" })
            return "interrupted" as const
          }
          yield* finish(execution, endedAt, "failed", { error: describeError(workExit.cause) })
          return "failed" as const
        })
      )

    /** Every attempt of one firing; retries wait on the retry Schedule without holding a slot. */
    const run = (definition: Definition, fire: Fire): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        let attempt = 1
        let dueAt = fire.scheduledAt
        // Made at the first failure: most runs never need it.
        let nextRetry: ((now: number) => Effect.Effect<Option.Option<number>>) | undefined
        while (true) {
          const outcome = yield* attemptOnce(definition, fire, attempt, dueAt)
          if (outcome !== "failed" && outcome !== "timed-out") return outcome
          nextRetry ??= yield* makeStepper(retrySchedule(definition.retry))
          const retryAt = yield* nextRetry(yield* Clock.currentTimeMillis)
          if (Option.isNone(retryAt)) return outcome
          dueAt = retryAt.value
          attempt += 1
          yield* sleepUntil(dueAt)
        }
      })

    return { run, recordSkipped }
  })

export type Runner = Effect.Effect.Success<ReturnType<typeof makeRunner>>
