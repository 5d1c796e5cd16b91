import { useState } from "preact/hooks"
import { hasRole, useConsole } from "../context.js"
import { useLoaded } from "../hooks.js"
import { request } from "../session.js"
import { duration, Time } from "../time.js"
import type { Execution, Task } from "../types.js"
import { NeedsAdmin, TaskActions } from "./tasks.js"

const loadTask = async (id: string) => {
  const path = `/v1/tasks/${encodeURIComponent(id)}`
  const [task, executions] = await Promise.all([request<Task>(path), request<ReadonlyArray<Execution>>(`${path}/executions?limit=100`)])
  return { task, executions }
}

export const TaskPage = ({ id }: { readonly id?: string }) => {
  const { state, now } = useConsole()
  const admin = hasRole(state, "admin")
  const taskId = decodeURIComponent(id ?? "")
  const [message, setMessage] = useState<string | undefined>(undefined)
  const loaded = useLoaded(() => (admin ? loadTask(taskId) : Promise.resolve(undefined)), "tasks", [admin, taskId])
  if (!admin) return <section><h1>Task</h1><NeedsAdmin what="Tasks" /></section>
  const task = loaded.value?.task
  return (
    <section aria-labelledby="task-title">
      <p><a href="/ui/tasks">← Tasks</a></p>
      <h1 id="task-title">{task?.name ?? taskId}</h1>
      {message === undefined && loaded.error === undefined ? null : <p class="banner critical" role="alert">{message ?? loaded.error}</p>}
      {task === undefined ? null : (
        <dl class="facts">
          <dt>State</dt><dd class="task-state">{task.enabled ? "active" : "paused"}</dd>
          <dt>Kind</dt><dd>{task.kind} (from {task.source})</dd>
          <dt>Next run</dt><dd><Time at={task.nextRunAt} now={now} /></dd>
          <dt>Running</dt><dd>{task.running}</dd>
          <dt>Priority</dt><dd>{String(task.priority)}</dd>
          <dt>Actions</dt><dd><TaskActions task={task} onDone={(m) => { setMessage(m); loaded.reload() }} /></dd>
        </dl>
      )}
      <div class="scroll">
        <table class="executions stack">
          <caption>Executions, newest first; each retry is an attempt of its own</caption>
          <thead>
            <tr><th scope="col">Started</th><th scope="col">Trigger</th><th scope="col">Attempt</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Error or result</th></tr>
          </thead>
          <tbody>
            {(loaded.value?.executions ?? []).map((execution) => (
              <tr key={execution.id}>
                <td data-label="Started"><Time at={execution.startedAt} now={now} /></td>
                <td data-label="Trigger">{execution.trigger}</td>
                <td data-label="Attempt">{execution.attempt}</td>
                <td data-label="Status"><span class={`status ${execution.status}`}>{execution.status}</span></td>
                <td data-label="Duration">{duration(execution.startedAt, execution.endedAt)}</td>
                <td class="output" data-label="Output">{execution.error ?? execution.result ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}
