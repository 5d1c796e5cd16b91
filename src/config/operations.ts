import * as Effect from "effect/Effect"
import { requireRole } from "../auth/caller.js"
import { ConfigService } from "./service.js"

/**
 * The configuration operations as callers reach them: every one needs the admin role.
 * The HTTP handlers, the WebSocket commands and (through HTTP) the CLI all go through these.
 */
const asAdmin = <A, E, R>(use: (config: ConfigService["Type"]) => Effect.Effect<A, E, R>) =>
  Effect.zipRight(requireRole("admin"), Effect.flatMap(ConfigService, use))

export const snapshot = asAdmin((config) => config.snapshot)
export const getKey = (key: string) => asAdmin((config) => config.get(key))
export const setKey = (key: string, value: unknown) => asAdmin((config) => config.set(key, value))
export const resetKey = (key: string) => asAdmin((config) => config.reset(key))
export const resetAll = asAdmin((config) => config.resetAll)
