import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Role } from "../config/schema.js"
import { anonymous, Caller, type CallerInfo, checkRole } from "./caller.js"
import { Forbidden, Unauthorized } from "./errors.js"
import { Tokens } from "./tokens.js"

const bearer = { bearer: HttpApiSecurity.bearer }

/**
 * Reads `Authorization: Bearer <token>`. No header means an anonymous caller (each operation
 * then asks for the role it needs); a token Miko does not know is always a 401.
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("miko/auth/Authentication", {
  provides: Caller,
  failure: Unauthorized,
  security: bearer
}) {}

/**
 * Routes that need a role say so with one of these gates. A gate runs before the path, query and
 * body are read, so a caller without the role gets 401 or 403 and learns nothing of the payload's
 * shape; the operation behind it checks the role again, as the WebSocket reaches it too.
 */
export class RequireAdmin extends HttpApiMiddleware.Tag<RequireAdmin>()("miko/auth/RequireAdmin", {
  provides: Caller,
  failure: Schema.Union(Unauthorized, Forbidden),
  security: bearer
}) {}

export class RequireRegister extends HttpApiMiddleware.Tag<RequireRegister>()("miko/auth/RequireRegister", {
  provides: Caller,
  failure: Schema.Union(Unauthorized, Forbidden),
  security: bearer
}) {}

const identify = (tokens: Tokens["Type"], token: Redacted.Redacted<string>): Effect.Effect<CallerInfo, Unauthorized> => {
  const secret = Redacted.value(token).trim()
  if (secret === "") return Effect.succeed(anonymous)
  return Effect.flatMap(tokens.authenticate(secret), Option.match({
    onNone: () => Effect.fail(new Unauthorized({ message: "unknown or revoked token" })),
    onSome: Effect.succeed
  }))
}

/**
 * The caller behind an `Authorization: Bearer` header, read as the API's security reads it: for
 * routes outside the HttpApi (`GET /metrics`).
 */
export const callerOfHeader = (tokens: Tokens["Type"], header: string | undefined): Effect.Effect<CallerInfo, Unauthorized> =>
  identify(tokens, Redacted.make(header === undefined ? "" : header.replace(/^Bearer(?:\s+|$)/i, "")))

const gate = (tokens: Tokens["Type"], role: Role) => ({
  bearer: (token: Redacted.Redacted<string>) => Effect.flatMap(identify(tokens, token), checkRole(role))
})

export const layer: Layer.Layer<Authentication | RequireAdmin | RequireRegister, never, Tokens> = Layer.unwrapEffect(
  Effect.map(Tokens, (tokens) =>
    Layer.mergeAll(
      Layer.succeed(Authentication, Authentication.of({ bearer: (token) => identify(tokens, token) })),
      Layer.succeed(RequireAdmin, RequireAdmin.of(gate(tokens, "admin"))),
      Layer.succeed(RequireRegister, RequireRegister.of(gate(tokens, "register")))
    ))
)
