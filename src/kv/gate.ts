import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Caller, type CallerInfo } from "../auth/caller.js"
import { Unauthorized } from "../auth/errors.js"
import { callerOfHeader } from "../auth/middleware.js"
import { Tokens } from "../auth/tokens.js"
import { accessTo } from "./access.js"
import { KvForbidden } from "./errors.js"

/**
 * The gate of the key writes (PUT, DELETE and POST …/rollback under /v1/kv/): a caller without
 * write access to the key gets 403 before the body is read, as the role gates of the other
 * routes answer. The operation checks again, as the WebSocket reaches it too.
 */
export class KvWriteGate extends HttpApiMiddleware.Tag<KvWriteGate>()("miko/kv/KvWriteGate", {
  provides: Caller,
  failure: Schema.Union(Unauthorized, KvForbidden),
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/** 403 for a write the caller may not make; the same message the operation gives. */
export const forbiddenWrite = (caller: CallerInfo, key: string) =>
  new KvForbidden({
    message: caller.name === undefined
      ? `writing key ${key} needs a token with write access to it: send Authorization: Bearer <token>`
      : `token ${JSON.stringify(caller.name)} may not write key ${key}`
  })

export const layerWriteGate: Layer.Layer<KvWriteGate, never, Tokens> = Layer.effect(
  KvWriteGate,
  Effect.map(Tokens, (tokens) =>
    KvWriteGate.of({
      bearer: (token) =>
        Effect.gen(function*() {
          const caller = yield* callerOfHeader(tokens, `Bearer ${Redacted.value(token)}`)
          const path = (yield* HttpRouter.params)["*"] ?? ""
          // A rollback's route is the key's: the write is to the key before /rollback.
          const key = path.endsWith("/rollback") ? path.slice(0, -"/rollback".length) : path
          // kv.publicRead only ever grants reading, so it plays no part in a write.
          return accessTo(caller, [], key) === "write" ? caller : yield* forbiddenWrite(caller, key)
        })
    }))
)
