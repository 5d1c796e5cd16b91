import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Forbidden, Unauthorized } from "../auth/errors.js"
import { RequireAdmin } from "../auth/middleware.js"
import { groupApi } from "../shared/http-api.js"
import { StorageError } from "../storage/errors.js"
import { TaskInvalid, TaskNotFound, TaskNotRemovable } from "./errors.js"
import { EventFired, Execution, RunRequested, SchedulerStatus, Task } from "./model.js"
import { EventName, TaskSpec } from "./schema.js"
import * as Operations from "./operations.js"

const TaskPath = Schema.Struct({ id: Schema.String.annotations({ description: "The task's id" }) })
const EventPath = Schema.Struct({ name: EventName })

const MAX_EXECUTIONS = 1_000

const ExecutionParams = Schema.Struct({
  limit: Schema.optionalWith(
    Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_EXECUTIONS)).annotations({
      description: `How many, newest first (1 to ${MAX_EXECUTIONS}; 50 when absent)`,
      message: (issue) => ({
        message: `Expected a whole number from 1 to ${MAX_EXECUTIONS}, found ${JSON.stringify(issue.actual)}`,
        override: true
      })
    }),
    { exact: true }
  )
})

/**
 * Background tasks and events. Every route needs the admin role: task declarations may carry
 * credentials (request headers), and firing or changing tasks has effects on other systems.
 */
export class SchedulerApi extends HttpApiGroup.make("scheduler")
  .add(HttpApiEndpoint.get("list", "/v1/tasks").addSuccess(Schema.Array(Task)))
  .add(HttpApiEndpoint.post("create", "/v1/tasks").setPayload(TaskSpec).addSuccess(Task, { status: 201 }).addError(TaskInvalid))
  .add(HttpApiEndpoint.get("get", "/v1/tasks/:id").setPath(TaskPath).addSuccess(Task))
  .add(
    HttpApiEndpoint.del("remove", "/v1/tasks/:id")
      .setPath(TaskPath)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(TaskNotRemovable)
  )
  .add(HttpApiEndpoint.post("run", "/v1/tasks/:id/run").setPath(TaskPath).addSuccess(RunRequested, { status: 202 }))
  .add(HttpApiEndpoint.post("pause", "/v1/tasks/:id/pause").setPath(TaskPath).addSuccess(Task))
  .add(HttpApiEndpoint.post("resume", "/v1/tasks/:id/resume").setPath(TaskPath).addSuccess(Task))
  .add(
    HttpApiEndpoint.get("executions", "/v1/tasks/:id/executions")
      .setPath(TaskPath)
      .setUrlParams(ExecutionParams)
      .addSuccess(Schema.Array(Execution))
  )
  .add(HttpApiEndpoint.post("fire", "/v1/events/:name").setPath(EventPath).addSuccess(EventFired, { status: 202 }))
  .add(HttpApiEndpoint.get("status", "/v1/scheduler").addSuccess(SchedulerStatus))
  .add(HttpApiEndpoint.post("pauseAll", "/v1/scheduler/pause").addSuccess(SchedulerStatus))
  .add(HttpApiEndpoint.post("resumeAll", "/v1/scheduler/resume").addSuccess(SchedulerStatus))
  .addError(TaskNotFound)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(StorageError)
  .middleware(RequireAdmin)
{}

/** Each route calls one operation, the same one the WebSocket command of that name calls. */
export const layerSchedulerHandlers = HttpApiBuilder.group(groupApi(SchedulerApi), "scheduler", (handlers) =>
  Effect.succeed(
    handlers
      .handle("list", () => Operations.listTasks)
      .handle("create", ({ payload }) => Operations.createTask(payload))
      .handle("get", ({ path }) => Operations.getTask(path.id))
      .handle("remove", ({ path }) => Operations.removeTask(path.id))
      .handle("run", ({ path }) => Operations.runTask(path.id))
      .handle("pause", ({ path }) => Operations.pauseTask(path.id))
      .handle("resume", ({ path }) => Operations.resumeTask(path.id))
      .handle("executions", ({ path, urlParams }) => Operations.executions(path.id, urlParams.limit))
      .handle("fire", ({ path }) => Operations.fireEvent(path.name))
      .handle("status", () => Operations.status)
      .handle("pauseAll", () => Operations.pauseAll)
      .handle("resumeAll", () => Operations.resumeAll)
  ))
