import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import { ConfigService } from "../config/service.js"
import { jsonBodyRequest, rejectionOf } from "./body.js"
import { Lifecycle } from "../lifecycle/index.js"
import { errorBodyOf, errorResponse, internalErrorBody, isTaggedFailure, type TaggedFailure } from "../shared/api-error.js"
import { describeIssues, type Issue } from "../shared/parse-error.js"
import { makeRequestRecorder, type RecordRequest, unmatchedRoute } from "./request-metrics.js"


/** The status a tagged error class declares through its Schema annotations. */
const declaredStatus = (error: TaggedFailure): number | undefined => {
  const ctor = (error as { constructor?: unknown }).constructor
  if (!Schema.isSchema(ctor)) return undefined
  const status = HttpApiSchema.getStatusErrorAST(ctor.ast)
  return status === 500 ? undefined : status
}

const fromFailure = (error: unknown, request: HttpServerRequest.HttpServerRequest) => {
  if (!isTaggedFailure(error)) return undefined
  switch (error._tag) {
    case "HttpApiDecodeError": {
      const issues = (error as unknown as { readonly issues: ReadonlyArray<Issue> }).issues
      return errorResponse(400, "invalid_request", describeIssues(issues) || "the request does not match the API")
    }
    case "RequestError":
    case "MultipartError":
      return fromRequestError(error, request)
    case "RouteNotFound":
      return errorResponse(404, "not_found", `no route for ${request.method} ${request.url.split("?")[0]}`)
    default: {
      const status = declaredStatus(error)
      if (status === undefined) return undefined
      const { code, message } = errorBodyOf(error)
      return errorResponse(status, code, message)
    }
  }
}

/**
 * Errors of the platform's request readers: a body refused by `jsonBodyRequest`, or a request
 * that cannot be read or upgraded as asked. They are about what the client sent, hence a 4xx.
 */
const fromRequestError = (error: TaggedFailure, request: HttpServerRequest.HttpServerRequest) => {
  const rejection = rejectionOf(error)
  if (rejection !== undefined) return errorResponse(rejection.status, rejection.code, rejection.message)
  // `Upgrade: websocket` without the rest of the handshake reaches the route as a plain request.
  if (request.headers["upgrade"] !== undefined) {
    return errorResponse(400, "invalid_request", "not a WebSocket handshake: send Connection: Upgrade, Upgrade: websocket and the Sec-WebSocket-* headers")
  }
  const description = (error as { readonly description?: unknown }).description
  return errorResponse(400, "invalid_request", `the request could not be read${typeof description === "string" ? `: ${description}` : ""}`)
}

const isRequestError = (value: unknown): value is TaggedFailure =>
  Predicate.isTagged(value, "RequestError") || Predicate.isTagged(value, "MultipartError")

/** The HttpApi reads payloads with `Effect.orDie`: a body it could not read arrives as a defect. */
const fromDefect = (request: HttpServerRequest.HttpServerRequest) => (defect: unknown) =>
  isRequestError(defect) ? fromRequestError(defect, request) : undefined

/**
 * Counts and times each answered request. The route template is the one the router matched: it
 * annotates the request's span with it (`http.route`), which is current here.
 */
const measured = <R>(record: RecordRequest, respond: Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = yield* Clock.currentTimeNanos
    const response = yield* respond
    const ended = yield* Clock.currentTimeNanos
    const span = yield* Effect.option(Effect.currentSpan)
    const route = Option.getOrUndefined(span)?.attributes.get("http.route")
    record(typeof route === "string" ? route : unmatchedRoute, request.method, response.status, Number(ended - started) / 1e9)
    return response
  })

/**
 * The edge of the HTTP API: reads bodies as JSON within the body limit (see ./body.ts) and renders every failure as
 * `{ "error": { "code", "message" } }` with the status its error class declares.
 * Only a failure nobody declared becomes a 500, and it is logged. Every answer is counted (./request-metrics.ts).
 */
export const layerEdge = HttpApiBuilder.middleware(
  Effect.gen(function*() {
    const config = yield* ConfigService
    const lifecycle = yield* Lifecycle
    const record = makeRequestRecorder()
    return (app): HttpApp.Default<never, HttpRouter.HttpRouter.Provided> =>
    measured(record, Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { maxBodyBytes } = (yield* config.current).http
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxBodyBytes) {
        return errorResponse(413, "payload_too_large", `the request body (${declared} bytes) is larger than http.maxBodyBytes (${maxBodyBytes})`)
      }
      const bodied = yield* jsonBodyRequest(request, maxBodyBytes)
      const response = yield* app.pipe(
        Effect.provideService(HttpServerRequest.HttpServerRequest, bodied),
        Effect.catchAllCause((cause) => {
          if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
          const rendered = Option.match(Cause.failureOption(cause), {
            onSome: (error) => fromFailure(error, request),
            onNone: () => Option.match(Cause.dieOption(cause), { onSome: fromDefect(request), onNone: () => undefined })
          })
          if (rendered !== undefined) return Effect.succeed(rendered)
          return Effect.as(
            Effect.logError("unhandled error in HTTP handler", cause),
            errorResponse(500, internalErrorBody.code, internalErrorBody.message)
          )
        })
      )
      // While shutting down, answered connections are closed rather than kept alive, so the
      // server can finish without waiting out keep-alive timeouts.
      return (yield* lifecycle.isShuttingDown) ? HttpServerResponse.setHeader(response, "connection", "close") : response
    }))
  }),
  { withContext: false }
)
