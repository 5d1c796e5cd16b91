import { useState } from "preact/hooks"
import { hasRole, useConsole } from "../context.js"
import { useLoaded } from "../hooks.js"
import { request } from "../session.js"
import { Time } from "../time.js"
import type { Execution, Task } from "../types.js"

interface TaskRow {
  readonly task: Task
  readonly last: Execution | undefined
}

/** Each task with its newest execution: the API lists tasks and executions separately. */
const loadTasks = async (): Promise<ReadonlyArray<TaskRow>> => {
  const tasks = await request<ReadonlyArray<Task>>("/v1/tasks")
  return Promise.all(tasks.map(async (task) => {
    const [last] = await request<ReadonlyArray<Execution>>(`/v1/tasks/${encodeURIComponent(task.id)}/executions?limit=1`)
    return { task, last }
  }))
}

export const NeedsAdmin = ({ what }: { readonly what: string }) => (
  <p class="banner">{what} need a token with the <code>admin</code> role, as in the API. Enter one above.</p>
)

/** Run now, pause and resume: the API's task operations, as the signed-in admin. */
export const TaskActions = ({ task, onDone }: { readonly task: Task; readonly onDone: (message: string | undefined) => void }) => {
  const [busy, setBusy] = useState(false)
  const act = (action: "run" | "pause" | "resume") => {
    setBusy(true)
    request<unknown>(`/v1/tasks/${encodeURIComponent(task.id)}/${action}`, { method: "POST" })
      .then(() => onDone(undefined), (error: Error) => onDone(`${task.name}: ${error.message}`))
      .finally(() => setBusy(false))
  }
  return (
    <span class="actions">
      <button type="button" disabled={busy} onClick={() => act("run")} aria-label={`Run ${task.name} now`}>Run now</button>
      {task.enabled
        ? <button type="button" disabled={busy} onClick={() => act("pause")} aria-label={`Pause ${task.name}`}>Pause</button>
        : <button type="button" disabled={busy} onClick={() => act("resume")} aria-label={`Resume ${task.name}`}>Resume</button>}
    </span>
  )
}

export const TasksPage = () => {
  const { state, now } = useConsole()
  const admin = hasRole(state, "admin")
  const [message, setMessage] = useState<string | undefined>(undefined)
  const rows = useLoaded(() => (admin ? loadTasks() : Promise.resolve([])), "tasks", [admin])
  if (!admin) return <section><h1>Tasks</h1><NeedsAdmin what="Tasks" /></section>
  return (
    <section aria-labelledby="tasks-title">
      <h1 id="tasks-title">Tasks</h1>
      {message === undefined && rows.error === undefined ? null : <p class="banner critical" role="alert">{message ?? rows.error}</p>}
      <div class="scroll">
        <table class="tasks stack">
          <caption>{rows.value?.length ?? 0} tasks</caption>
          <thead>
            <tr><th scope="col">Task</th><th scope="col">State</th><th scope="col">Next run</th><th scope="col">Last status</th><th scope="col">Running</th><th scope="col">Priority</th><th scope="col">Actions</th></tr>
          </thead>
          <tbody>
            {(rows.value ?? []).map(({ task, last }) => (
              <tr key={task.id} data-task={task.name}>
                <th scope="row" data-label="Task"><a href={`/ui/tasks/${encodeURIComponent(task.id)}`}>{task.name}</a></th>
                <td class="task-state" data-label="State">{task.enabled ? "active" : "paused"}</td>
                <td data-label="Next run"><Time at={task.nextRunAt} now={now} /></td>
                <td data-label="Last status">{last === undefined ? <span class="muted">never ran</span> : <span class={`status ${last.status}`}>{last.status}</span>}</td>
                <td data-label="Running">{task.running}</td>
                <td data-label="Priority">{String(task.priority)}</td>
                <td data-label=""><TaskActions task={task} onDone={(m) => { setMessage(m); rows.reload() }} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
