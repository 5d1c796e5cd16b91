import * as Effect from "effect/Effect"
import { requireRole } from "../auth/caller.js"
import type { TaskSpec } from "./schema.js"
import { Scheduler } from "./service.js"

/**
 * The scheduler's operations as callers reach them: every one needs the admin role. The HTTP
 * handlers and the WebSocket commands both call these.
 */
const asAdmin = <A, E, R>(use: (scheduler: Scheduler["Type"]) => Effect.Effect<A, E, R>) =>
  Effect.zipRight(requireRole("admin"), Effect.flatMap(Scheduler, use))

export const listTasks = asAdmin((s) => s.list)
export const createTask = (spec: TaskSpec) => asAdmin((s) => s.create(spec))
export const getTask = (id: string) => asAdmin((s) => s.get(id))
export const removeTask = (id: string) => asAdmin((s) => s.remove(id, { sources: ["api"] }))
export const runTask = (id: string) => asAdmin((s) => s.runNow(id))
export const pauseTask = (id: string) => asAdmin((s) => s.pause(id))
export const resumeTask = (id: string) => asAdmin((s) => s.resume(id))
export const pauseAll = asAdmin((s) => Effect.zipRight(s.pause(), s.status))
export const resumeAll = asAdmin((s) => Effect.zipRight(s.resume(), s.status))
export const executions = (id: string, limit?: number) => asAdmin((s) => s.executions(id, limit))
export const fireEvent = (name: string) => asAdmin((s) => s.fire(name))
export const status = asAdmin((s) => s.status)
