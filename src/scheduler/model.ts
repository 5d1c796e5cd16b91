import * as Schema from "effect/Schema"
import { PositiveDurationString } from "../shared/duration.js"
import { EventName, HttpRequestSpec, Instant, Overlap, Priority, RetryPolicy, TaskName, Trigger } from "./schema.js"

/** Where a task comes from: registered in code, created over the API, or declared in config. */
export const TaskSource = Schema.Literal("code", "api", "config").annotations({ identifier: "TaskSource" })
export type TaskSource = typeof TaskSource.Type

/** A task as the API and `Scheduler.list` show it, with its live state. */
export const Task = Schema.Struct({
  id: Schema.String,
  name: TaskName,
  description: Schema.optionalWith(Schema.String, { exact: true }),
  kind: Schema.Literal("code", "http"),
  source: TaskSource,
  http: Schema.optionalWith(HttpRequestSpec, { exact: true }),
  triggers: Schema.Array(Trigger).annotations({ description: "The triggers still to fire; a one-time trigger is gone once its run completed" }),
  priority: Priority,
  retry: RetryPolicy,
  timeout: Schema.optionalWith(PositiveDurationString, { exact: true }),
  overlap: Overlap,
  enabled: Schema.Boolean.annotations({ description: "False while the task is paused" }),
  catchUp: Schema.Boolean,
  createdAt: Instant,
  running: Schema.Int.annotations({ description: "Runs going on now, including those waiting for a slot or a retry" }),
  nextRunAt: Schema.optionalWith(Instant.annotations({ description: "The next instant a periodic or one-time trigger fires" }), { exact: true })
}).annotations({ identifier: "Task" })
export type Task = typeof Task.Type

export const ExecutionStatus = Schema.Literal("running", "succeeded", "failed", "timed-out", "interrupted", "skipped").annotations({
  identifier: "ExecutionStatus"
})
export type ExecutionStatus = typeof ExecutionStatus.Type

/** One attempt of one run (or a skipped firing), newest first in listings. */
export const Execution = Schema.Struct({
  id: Schema.String,
  taskId: Schema.String,
  trigger: Schema.String.annotations({ description: "What started it: \"every 1m\", \"cron 0 3 * * *\", \"event deploy\", \"manual\"..." }),
  attempt: Schema.Int.annotations({ description: "1 for the first attempt, 2 for the first retry..." }),
  scheduledAt: Instant.annotations({ description: "When the trigger (or the retry) was due" }),
  startedAt: Instant,
  endedAt: Schema.optionalWith(Instant, { exact: true }),
  status: ExecutionStatus,
  error: Schema.optionalWith(Schema.String, { exact: true }),
  result: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "Execution" })
export type Execution = typeof Execution.Type

/** What the change stream (and the WebSocket topic `tasks`) carries. */
export const ExecutionChange = Schema.Struct({
  type: Schema.Literal("started", "finished"),
  execution: Execution
}).annotations({ identifier: "ExecutionChange" })
export type ExecutionChange = typeof ExecutionChange.Type

/** The answer to `runNow`: a manual run obeys the task's overlap policy like any trigger. */
export const RunRequested = Schema.Struct({
  taskId: Schema.String,
  outcome: Schema.Literal("accepted", "skipped"),
  message: Schema.String
}).annotations({ identifier: "RunRequested" })
export type RunRequested = typeof RunRequested.Type

/** The answer to raising an event: the tasks it triggered. */
export const EventFired = Schema.Struct({
  event: EventName,
  tasks: Schema.Array(Schema.String)
}).annotations({ identifier: "EventFired" })
export type EventFired = typeof EventFired.Type

export const SchedulerStatus = Schema.Struct({
  paused: Schema.Boolean,
  tasks: Schema.Int,
  running: Schema.Int.annotations({ description: "Attempts holding a slot now" }),
  queued: Schema.Int.annotations({ description: "Ready attempts waiting for a slot" }),
  maxRunningTasks: Schema.Int
}).annotations({ identifier: "SchedulerStatus" })
export type SchedulerStatus = typeof SchedulerStatus.Type
