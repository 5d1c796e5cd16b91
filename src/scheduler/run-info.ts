import * as Context from "effect/Context"

/** The run a task's work belongs to, provided to the work while it runs. */
export interface RunInfo {
  readonly taskId: string
  readonly executionId: string
  readonly attempt: number
  readonly trigger: string
  /** When the trigger (or the retry) was due, in epoch milliseconds. */
  readonly scheduledAt: number
  /**
   * What the firing was about: for a `kvChanged` trigger the changed `key`, its `version` and
   * `index`, and `deleted`; empty for other triggers. An `http` task sends each as a header
   * `X-Miko-Context-<Name>`.
   */
  readonly context: Readonly<Record<string, string>>
}

export class CurrentRun extends Context.Tag("miko/scheduler/CurrentRun")<CurrentRun, RunInfo>() {}
