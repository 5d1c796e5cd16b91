import type { IncomingMessage, ServerResponse } from "node:http"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { anonymous, type CallerInfo } from "../auth/caller.js"
import { Tokens } from "../auth/tokens.js"
import { Cluster } from "../cluster/service.js"
import { ConfigService } from "../config/service.js"
import { Kv } from "../kv/index.js"
import { Lifecycle } from "../lifecycle/index.js"
import type { Visibility } from "../registry/model.js"
import { visibilityFor } from "../registry/operations.js"
import { RenderedReads } from "../registry/rendered.js"
import { Registry } from "../registry/service.js"
import { type FastContext, secondsSince, type Settings } from "./fast-context.js"
import { makeEndpointAnswers } from "./fast-endpoints.js"
import { makeKvAnswers } from "./fast-kv.js"
import { makeParking } from "./fast-parking.js"
import { makeStatusAnswers } from "./fast-status.js"
import { makeRequestRecorder } from "./request-metrics.js"

/** Answers a request from memory and says true, or says false and leaves it to the HTTP API. */
export type FastPath = (request: IncomingMessage, response: ServerResponse) => boolean

/**
 * The fast path: `GET /v1/endpoints` (any filter, blocking or not), `GET /v1/services`,
 * `/healthz`, `/readyz` and reads of application keys answered from bytes rendered once per
 * change, and the heartbeat of a passing lease taken in memory, without a fiber, span or
 * middleware per request; each is counted with two plain metric updates. Blocking reads are
 * parked as plain responses (./fast-parking.ts) and answered from the one rendering when what
 * they read changes. Everything unusual (a body, an unknown token, telemetry switched on, a query
 * the API would refuse, stale data in a cluster) goes to the HTTP API, which stays the reference.
 */
export const makeFastPath: Effect.Effect<
  FastPath,
  never,
  RenderedReads | Registry | Kv | Tokens | ConfigService | Lifecycle | Cluster | SqlClient.SqlClient | Scope.Scope
> = Effect.gen(function*() {
  const tokens = yield* Tokens
  const config = yield* ConfigService
  const lifecycle = yield* Lifecycle
  const cluster = yield* Cluster
  // Plain values kept current by fibers, so that a request reads them without entering one.
  let settings: Settings = { config: yield* config.current, shuttingDown: false, fresh: true }
  const context: FastContext = { settings: () => settings, record: makeRequestRecorder(), parking: makeParking() }
  const status = yield* makeStatusAnswers
  const registry = makeEndpointAnswers(context, yield* RenderedReads, yield* Registry)
  const keys = makeKvAnswers(context, yield* Kv)

  yield* config.changes.pipe(Stream.runForEach((next) => Effect.sync(() => (settings = { ...settings, config: next }))), Effect.forkScoped)
  yield* lifecycle.shutdown.pipe(
    Effect.zipRight(Effect.sync(() => {
      settings = { ...settings, shuttingDown: true }
      context.parking.releaseAll()
    })),
    Effect.forkScoped
  )
  if (cluster.shared) {
    yield* cluster.checkFresh.pipe(
      Effect.match({ onFailure: () => false, onSuccess: () => true }),
      Effect.flatMap((fresh) => Effect.sync(() => (settings = { ...settings, fresh }))),
      Effect.repeat(Schedule.spaced(Duration.millis(250))),
      Effect.forkScoped
    )
  }

  /** Who calls; undefined for a header the API must judge (malformed, or a token Miko does not know). */
  const callerOf = (request: IncomingMessage): CallerInfo | undefined => {
    const authorization = request.headers.authorization
    // "Bearer" with nothing after it is no token, as the API reads it: an anonymous caller.
    const match = authorization === undefined ? undefined : /^Bearer(?:\s+(.*))?$/i.exec(authorization)
    if (authorization !== undefined && match === null) return undefined
    const secret = match?.[1]?.trim() ?? ""
    return secret === "" ? anonymous : tokens.identify(secret)
  }

  /** What the caller may see of the directory; undefined when the API must answer (an unknown token, a read that needs one). */
  const visibilityOf = (request: IncomingMessage): Visibility | undefined => {
    const caller = callerOf(request)
    return caller === undefined ? undefined : visibilityFor(caller, settings.config.registry.publicRead)
  }

  /** `GET` routes without a query string: answered as they are, 200 when answered. */
  const plain = (request: IncomingMessage, response: ServerResponse, path: string): boolean => {
    if (path === "/healthz") return status.healthz(response)
    if (path === "/readyz") return status.readyz(response, settings.shuttingDown)
    if (path !== "/v1/services") return false
    const visibility = visibilityOf(request)
    return visibility !== undefined && status.services(response, visibility)
  }

  const get = (request: IncomingMessage, response: ServerResponse, url: string, started: number): boolean => {
    const question = url.indexOf("?")
    const path = question === -1 ? url : url.slice(0, question)
    const search = question === -1 ? "" : url.slice(question + 1)
    if (path === "/v1/endpoints") {
      const visibility = visibilityOf(request)
      return visibility !== undefined && registry.endpoints(request, response, visibility, search, started)
    }
    if (path === "/v1/kv" || path.startsWith("/v1/kv/")) {
      const caller = callerOf(request)
      if (caller === undefined) return false
      return path === "/v1/kv"
        ? keys.list(response, caller, search, started)
        : keys.key(response, caller, path.slice("/v1/kv/".length), search, started)
    }
    if (question !== -1 || !plain(request, response, path)) return false
    context.record(path, "GET", 200, secondsSince(started))
    return true
  }

  return (request, response) => {
    if (settings.config.telemetry.otlpEndpoint !== undefined || !settings.fresh) return false
    // A request with a body goes to the API, which reads it within http.maxBodyBytes.
    const length = request.headers["content-length"]
    if ((length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined) return false
    const url = request.url ?? ""
    const started = performance.now()
    if (request.method === "PUT") {
      const caller = url.includes("?") ? undefined : callerOf(request)
      return caller !== undefined && registry.heartbeat(response, caller, url, started)
    }
    return request.method === "GET" && length === undefined && get(request, response, url, started)
  }
})
