import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "./readiness.js"
import { errorCode } from "../shared/api-error.js"

const envelope = (status: number, code: string, message: string) =>
  HttpServerResponse.unsafeJson({ error: { code, message } }, { status })

interface Tagged {
  readonly _tag: string
  readonly message?: unknown
}

const isTagged = (value: unknown): value is Tagged =>
  typeof value === "object" && value !== null && typeof (value as { _tag?: unknown })._tag === "string"

interface DecodeIssue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/** The status a tagged error class declares through its Schema annotations. */
const declaredStatus = (error: Tagged): number | undefined => {
  const ctor = (error as { constructor?: unknown }).constructor
  if (!Schema.isSchema(ctor)) return undefined
  const status = HttpApiSchema.getStatusErrorAST(ctor.ast)
  return status === 500 ? undefined : status
}

const fromFailure = (error: unknown, request: HttpServerRequest.HttpServerRequest) => {
  if (!isTagged(error)) return undefined
  switch (error._tag) {
    case "HttpApiDecodeError": {
      const issues = (error as unknown as { readonly issues: ReadonlyArray<DecodeIssue> }).issues
      const text = issues.map((issue) => (issue.path.length > 0 ? `${issue.path.map(String).join(".")}: ` : "") + issue.message)
      return envelope(400, "invalid_request", text.join("; ") || "the request does not match the API")
    }
    case "RouteNotFound":
      return envelope(404, "not_found", `no route for ${request.method} ${request.url.split("?")[0]}`)
    default: {
      const status = declaredStatus(error)
      const message = typeof error.message === "string" ? error.message : error._tag
      return status === undefined ? undefined : envelope(status, errorCode(error._tag), message)
    }
  }
}

const fromDefect = (defect: unknown) => {
  if (!isTagged(defect) || defect._tag !== "RequestError") return undefined
  const cause = (defect as { readonly cause?: unknown }).cause
  const text = cause instanceof Error ? cause.message : String(cause)
  return text.includes("maxBytes exceeded")
    ? envelope(413, "payload_too_large", "the request body is larger than http.maxBodyBytes")
    : envelope(400, "invalid_json", `the request body is not valid JSON: ${text}`)
}

/**
 * The API speaks JSON: a body sent without a content type, or with the form type that
 * `curl -d` picks by default, is read as JSON rather than as a form.
 */
const asJson = (request: HttpServerRequest.HttpServerRequest) => {
  const type = request.headers["content-type"]
  return type === undefined || type.startsWith("application/x-www-form-urlencoded")
    ? request.modify({ headers: { ...request.headers, "content-type": "application/json" } })
    : request
}

/**
 * The edge of the HTTP API: enforces the body limit and renders every failure as
 * `{ "error": { "code", "message" } }` with the status its error class declares.
 * Only a failure nobody declared becomes a 500, and it is logged.
 */
export const layerEdge = HttpApiBuilder.middleware(
  Effect.gen(function*() {
    const config = yield* ConfigService
    const lifecycle = yield* Lifecycle
    return (app): HttpApp.Default<never, HttpRouter.HttpRouter.Provided> =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { maxBodyBytes } = (yield* config.current).http
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxBodyBytes) {
        return envelope(413, "payload_too_large", `the request body (${declared} bytes) is larger than http.maxBodyBytes (${maxBodyBytes})`)
      }
      const response = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, asJson(request)),
        HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)),
        Effect.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          const rendered = Option.match(Cause.failureOption(cause), {
            onSome: (error) => fromFailure(error, request),
            onNone: () => Option.match(Cause.dieOption(cause), { onSome: fromDefect, onNone: () => undefined })
          })
          if (rendered !== undefined) return Effect.succeed(rendered)
          return Effect.as(
            Effect.logError("unhandled error in HTTP handler", cause),
            envelope(500, "internal", "internal error; see the server log")
          )
        })
      )
      // While shutting down, answered connections are closed rather than kept alive, so the
      // server can finish without waiting out keep-alive timeouts.
      return (yield* lifecycle.isShuttingDown) ? HttpServerResponse.setHeader(response, "connection", "close") : response
    })
  }),
  { withContext: false }
)
