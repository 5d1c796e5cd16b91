import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { KvRule, Role } from "../config/schema.js"
import { Forbidden, Unauthorized } from "./errors.js"

/** Who is calling: a named token with roles, or anonymous. */
export interface CallerInfo {
  /** The token's name; undefined for an anonymous caller. */
  readonly name: string | undefined
  readonly roles: ReadonlySet<Role>
  /** The services this caller may register; undefined means all. */
  readonly services: ReadonlySet<string> | undefined
  /** Its token's rules for application keys (admin needs none). */
  readonly kv: ReadonlyArray<KvRule>
}

export class Caller extends Context.Tag("miko/auth/Caller")<Caller, CallerInfo>() {}

export const anonymous: CallerInfo = { name: undefined, roles: new Set(), services: undefined, kv: [] }

/** `admin` implies every other role. */
export const hasRole = (caller: CallerInfo, role: Role): boolean => caller.roles.has("admin") || caller.roles.has(role)

/** Passes `caller` on when it has `role`: 401 for an anonymous caller, 403 for a token without it. */
export const checkRole = (role: Role) => (caller: CallerInfo): Effect.Effect<CallerInfo, Unauthorized | Forbidden> => {
  if (hasRole(caller, role)) return Effect.succeed(caller)
  return caller.name === undefined
    ? Effect.fail(new Unauthorized({ message: `this operation needs a token with the ${role} role: send Authorization: Bearer <token>` }))
    : Effect.fail(new Forbidden({ message: `token ${JSON.stringify(caller.name)} lacks the ${role} role` }))
}

/** The calling `Caller` with `role`: 401 for an anonymous caller and 403 for a token without the role. */
export const requireRole = (role: Role): Effect.Effect<CallerInfo, Unauthorized | Forbidden, Caller> =>
  Effect.flatMap(Caller, checkRole(role))

/** Whether a caller with the register role may write endpoints of `service` (all, unless its token is scoped). */
export const coversService = (caller: CallerInfo, service: string): boolean =>
  caller.services === undefined || caller.roles.has("admin") || caller.services.has(service)

/** Whether the caller may write endpoints of `service` (role `register` and, when scoped, the service listed). */
export const requireService = (service: string): Effect.Effect<CallerInfo, Unauthorized | Forbidden, Caller> =>
  Effect.flatMap(requireRole("register"), (caller) =>
    coversService(caller, service)
      ? Effect.succeed(caller)
      : Effect.fail(new Forbidden({ message: `token ${JSON.stringify(caller.name)} may not register endpoints of service ${JSON.stringify(service)}` })))
