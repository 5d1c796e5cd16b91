import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { anonymous, Caller } from "./caller.js"
import { Unauthorized } from "./errors.js"
import { Tokens } from "./tokens.js"

/**
 * Reads `Authorization: Bearer <token>`. No header means an anonymous caller (each operation
 * then asks for the role it needs); a token Miko does not know is always a 401.
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Authentication", {
  provides: Caller,
  failure: Unauthorized,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

export const layer: Layer.Layer<Authentication, never, Tokens> = Layer.effect(
  Authentication,
  Effect.map(Tokens, (tokens) =>
    Authentication.of({
      bearer: (token) => {
        const secret = Redacted.value(token).trim()
        if (secret === "") return Effect.succeed(anonymous)
        return Effect.flatMap(tokens.authenticate(secret), Option.match({
          onNone: () => Effect.fail(new Unauthorized({ message: "unknown or revoked token" })),
          onSome: Effect.succeed
        }))
      }
    }))
)
