import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { RouteNotFound } from "@effect/platform/HttpServerError"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { type CallerInfo, checkRole } from "../auth/caller.js"
import { callerOfHeader } from "../auth/middleware.js"
import { Tokens } from "../auth/tokens.js"
import type { MikoConfig } from "../config/schema.js"
import { ConfigService } from "../config/service.js"
import { MetricsCollection, prometheusContentType } from "../telemetry/metrics.js"

type Access = MikoConfig["telemetry"]["prometheus"]["access"]

/** Open, or the role `telemetry.prometheus.access` names: 401 anonymous, 403 a token without it. */
const admit = (access: Access, caller: CallerInfo) => (access === "open" ? Effect.void : Effect.asVoid(checkRole(access)(caller)))

/**
 * `GET telemetry.prometheus.path`: every series in the Prometheus text format. The caller is
 * judged before anything is collected; while `telemetry.prometheus.enabled` is false the path is
 * unknown (404). Only when the service runs with the metrics collection: an embedding app keeps
 * its own.
 */
export const layerMetricsRoute = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const collection = yield* Effect.serviceOption(MetricsCollection)
    if (Option.isNone(collection)) return
    const config = yield* ConfigService
    const tokens = yield* Tokens
    const { path } = (yield* config.current).telemetry.prometheus
    yield* router.get(path as HttpRouter.PathInput, Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { enabled, access } = (yield* config.current).telemetry.prometheus
      if (!enabled) return yield* new RouteNotFound({ request })
      yield* admit(access, yield* callerOfHeader(tokens, request.headers["authorization"]))
      const text = yield* collection.value.scrape
      return HttpServerResponse.text(text, { contentType: prometheusContentType, headers: { "cache-control": "no-store" } })
    }))
  })
)
