export { parseCron } from "./cron.js"
export { CurrentRun, type RunInfo, type TaskDefinition } from "./definition.js"
export { TaskExists, TaskInvalid, TaskNotFound, TaskNotRemovable } from "./errors.js"
export { HttpTaskFailed } from "./http-kind.js"
export { layerSchedulerHandlers, SchedulerApi } from "./http.js"
export * as SchedulerMetrics from "./metrics.js"
export {
  EventFired,
  Execution,
  ExecutionChange,
  ExecutionStatus,
  RunRequested,
  SchedulerStatus,
  Task,
  TaskSource
} from "./model.js"
export {
  AtTrigger,
  Backoff,
  ConfigTasks,
  CronTrigger,
  DelayTrigger,
  EventName,
  EventTrigger,
  KvChangedTrigger,
  EveryTrigger,
  HttpMethod,
  HttpRequestSpec,
  Instant,
  Overlap,
  Priority,
  RetryPolicy,
  TaskName,
  TaskSpec,
  Trigger
} from "./schema.js"
export { layerKvTriggers } from "./kv-triggers.js"
export { layer, layerWithoutStore, Scheduler, type SchedulerService } from "./service.js"
export { layerSql as layerStoreSql, SchedulerStore, type StoredTask } from "./store.js"
