import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { EventFired, Execution, RunRequested, Task } from "../scheduler/model.js"
import { EventName } from "../scheduler/schema.js"
import { between, cell, fields, instant, printJson, table, wire } from "./format.js"
import { type CliEnvironment, connectionOptions, jsonOption, present, segment, withMiko } from "./shared.js"

type WireTask = typeof Task.Encoded
type WireExecution = typeof Execution.Encoded

const describeTrigger = (trigger: WireTask["triggers"][number]): string => {
  if ("every" in trigger) return `every ${trigger.every}`
  if ("cron" in trigger) return `cron ${trigger.cron}${trigger.timezone === undefined ? "" : ` (${trigger.timezone})`}`
  if ("event" in trigger) return `event ${trigger.event}`
  if ("kvChanged" in trigger) return `when a key under ${trigger.kvChanged || "(any)"} changes`
  if ("delay" in trigger) return `once after ${trigger.delay}`
  return `once at ${instant(trigger.at) ?? trigger.at}`
}

const triggers = (task: WireTask) => task.triggers.length === 0 ? undefined : task.triggers.map(describeTrigger).join("; ")
const state = (task: WireTask) => (task.enabled ? "active" : "paused")

const taskTable = (tasks: ReadonlyArray<WireTask>): string =>
  tasks.length === 0
    ? "no tasks"
    : table(
      ["ID", "NAME", "KIND", "SOURCE", "STATE", "RUNNING", "NEXT RUN", "TRIGGERS"],
      tasks.map((task) => [
        task.id,
        task.name,
        task.kind,
        task.source,
        state(task),
        String(task.running),
        cell(instant(task.nextRunAt)),
        cell(triggers(task))
      ])
    )

const taskFields = (task: WireTask): string =>
  fields([
    ["id", task.id],
    ["name", task.name],
    ["description", task.description],
    ["kind", task.kind],
    ["source", task.source],
    ["state", state(task)],
    ["request", task.http === undefined ? undefined : `${task.http.method ?? "GET"} ${task.http.url}`],
    ["triggers", triggers(task)],
    ["next run", instant(task.nextRunAt)],
    ["running", String(task.running)],
    ["priority", task.priority === undefined ? undefined : String(task.priority)],
    ["overlap", task.overlap],
    ["timeout", task.timeout],
    ["retries", task.retry?.maxRetries === undefined ? undefined : String(task.retry.maxRetries)],
    ["created", instant(task.createdAt)]
  ])

/** The error, else the result, on one line and short enough for a table. */
const detail = (execution: WireExecution): string => {
  const text = (execution.error ?? execution.result ?? "").replace(/\s+/g, " ").trim()
  return cell(text.length > 80 ? `${text.slice(0, 79)}…` : text)
}

const historyTable = (executions: ReadonlyArray<WireExecution>): string =>
  executions.length === 0
    ? "no runs recorded"
    : table(
      ["STARTED", "TRIGGER", "ATTEMPT", "STATUS", "TOOK", "DETAIL"],
      executions.map((execution) => [
        instant(execution.startedAt) ?? execution.startedAt,
        execution.trigger,
        String(execution.attempt),
        execution.status,
        cell(between(execution.startedAt, execution.endedAt)),
        detail(execution)
      ])
    )

const idArg = Args.text({ name: "ID" }).pipe(Args.withDescription("The task's id, as `miko tasks list` shows it"))

/** `miko tasks list|show|run|pause|resume|history`; every one needs an admin token. */
export const tasksCommand = (environment: CliEnvironment) => {
  const run = withMiko(environment)
  const common = { ...connectionOptions, json: jsonOption }

  const list = Command.make("list", common, (options) =>
    run(options, (miko) =>
      Effect.gen(function*() {
        const tasks = yield* miko.call((client) => client.scheduler.list())
        const Tasks = Schema.Array(Task)
        return yield* options.json ? printJson(Tasks, tasks) : Effect.flatMap(wire(Tasks, tasks), (shown) => Console.log(taskTable(shown)))
      }))).pipe(Command.withDescription("List the background tasks"))

  const show = Command.make("show", { ...common, id: idArg }, (options) =>
    run(options, (miko) =>
      Effect.gen(function*() {
        const task = yield* miko.call((client) => client.scheduler.get({ path: { id: segment(options.id) } }))
        return yield* options.json ? printJson(Task, task) : Effect.flatMap(wire(Task, task), (shown) => Console.log(taskFields(shown)))
      }))).pipe(Command.withDescription("Show one task"))

  const runNow = Command.make("run", { ...common, id: idArg }, (options) =>
    run(options, (miko) =>
      Effect.gen(function*() {
        const answer = yield* miko.call((client) => client.scheduler.run({ path: { id: segment(options.id) } }))
        if (options.json) return yield* printJson(RunRequested, answer)
        // A skipped run is the task's overlap policy at work, not a failure of the command.
        return yield* Console.log(answer.outcome === "accepted" ? answer.message : `${answer.taskId}: run skipped: ${answer.message}`)
      }))).pipe(Command.withDescription("Run a task now (its overlap policy decides whether it may)"))

  const toggle = (name: "pause" | "resume", description: string) =>
    Command.make(name, { ...common, id: idArg }, (options) =>
      run(options, (miko) =>
        Effect.gen(function*() {
          const path = { path: { id: segment(options.id) } }
          const task = yield* miko.call((client) => (name === "pause" ? client.scheduler.pause(path) : client.scheduler.resume(path)))
          return yield* options.json ? printJson(Task, task) : Console.log(`${task.id}: ${task.enabled ? "active" : "paused"}`)
        }))).pipe(Command.withDescription(description))

  const history = Command.make(
    "history",
    { ...common, id: idArg, limit: Options.integer("limit").pipe(Options.withDescription("How many runs, newest first (1 to 1000; default 50)"), Options.optional) },
    (options) =>
      run(options, (miko) =>
        Effect.gen(function*() {
          const executions = yield* miko.call((client) =>
            client.scheduler.executions({ path: { id: segment(options.id) }, urlParams: present("limit", options.limit) })
          )
          const Executions = Schema.Array(Execution)
          return yield* options.json
            ? printJson(Executions, executions)
            : Effect.flatMap(wire(Executions, executions), (shown) => Console.log(historyTable(shown)))
        }))
  ).pipe(Command.withDescription("A task's recent runs, newest first"))

  return Command.make("tasks").pipe(
    Command.withDescription("Background tasks (admin token)"),
    Command.withSubcommands([
      list,
      show,
      runNow,
      toggle("pause", "Pause a task: its triggers stop firing until it is resumed"),
      toggle("resume", "Resume a paused task"),
      history
    ])
  )
}

/** `miko events fire NAME`. */
export const eventsCommand = (environment: CliEnvironment) => {
  const fire = Command.make(
    "fire",
    { ...connectionOptions, json: jsonOption, name: Args.text({ name: "NAME" }).pipe(Args.withSchema(EventName)) },
    (options) =>
      withMiko(environment)(options, (miko) =>
        Effect.gen(function*() {
          const fired = yield* miko.call((client) => client.scheduler.fire({ path: { name: options.name } }))
          if (options.json) return yield* printJson(EventFired, fired)
          return yield* Console.log(
            fired.tasks.length === 0
              ? `event ${fired.event} fired; no task listens to it`
              : `event ${fired.event} fired; triggered ${fired.tasks.join(", ")}`
          )
        }))
  ).pipe(Command.withDescription("Raise an event: every task with that event trigger runs"))

  return Command.make("events").pipe(
    Command.withDescription("Events that trigger tasks (admin token)"),
    Command.withSubcommands([fire])
  )
}
