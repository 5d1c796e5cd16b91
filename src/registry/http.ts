import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Forbidden, Unauthorized } from "../auth/errors.js"
import { Authentication, RequireRegister } from "../auth/middleware.js"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "../lifecycle/index.js"
import { ServiceName } from "../shared/address.js"
import { DurationString } from "../shared/duration.js"
import { groupApi } from "../shared/http-api.js"
import { StorageError } from "../storage/errors.js"
import { EndpointConflict, EndpointNotFound, ServiceNotFound } from "./errors.js"
import { Endpoint, EndpointId, EndpointList, EndpointStatus, Registration, ServiceDetail, ServiceList } from "./model.js"
import * as Operations from "./operations.js"
import { type ListQuery, RenderedReads, type RenderedList } from "./rendered.js"
import { Registry } from "./service.js"
import { asBlockingQuery } from "./metrics.js"

const ServicePath = Schema.Struct({ service: ServiceName })
const EndpointPath = Schema.Struct({ service: ServiceName, id: EndpointId })

const ListParams = Schema.Struct({
  service: Schema.optionalWith(Schema.Array(ServiceName), { exact: true }).annotations({ description: "Only these services (repeatable)" }),
  tag: Schema.optionalWith(Schema.String, { exact: true }),
  zone: Schema.optionalWith(Schema.String, { exact: true }),
  status: Schema.optionalWith(EndpointStatus, { exact: true }),
  index: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()), { exact: true }).annotations({
    description: "Wait until the change index is past this one (a blocking query)"
  }),
  wait: Schema.optionalWith(DurationString, { exact: true }).annotations({
    description: "Longest wait for a blocking query (default 30s, capped by registry.maxWait)"
  })
})

/** The endpoint directory: public reads, and writes for the `register` role. */
export class RegistryApi extends HttpApiGroup.make("registry")
  .add(
    HttpApiEndpoint.get("list", "/v1/endpoints")
      .setUrlParams(ListParams)
      .addSuccess(EndpointList)
      .addSuccess(HttpApiSchema.NoContent.annotations({ description: "Not modified (If-None-Match)" }), { status: 304 })
  )
  .add(HttpApiEndpoint.get("services", "/v1/services").addSuccess(ServiceList))
  .add(HttpApiEndpoint.get("service", "/v1/services/:service").setPath(ServicePath).addSuccess(ServiceDetail).addError(ServiceNotFound))
  .add(
    HttpApiEndpoint.post("register", "/v1/services/:service/endpoints")
      .setPath(ServicePath)
      .setPayload(Registration)
      .middleware(RequireRegister)
      .addSuccess(Endpoint, { status: 201 })
      .addError(EndpointConflict)
  )
  .add(
    HttpApiEndpoint.put("heartbeat", "/v1/services/:service/endpoints/:id/heartbeat")
      .setPath(EndpointPath)
      .middleware(RequireRegister)
      .addSuccess(Endpoint)
      .addError(EndpointNotFound)
  )
  .add(
    HttpApiEndpoint.del("deregister", "/v1/services/:service/endpoints/:id")
      .setPath(EndpointPath)
      .middleware(RequireRegister)
      .addSuccess(HttpApiSchema.NoContent)
      .addError(EndpointNotFound)
      .addError(EndpointConflict)
  )
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(StorageError)
  .middleware(Authentication)
{}

const defaultWait = Duration.seconds(30)

/** Waits for the result of `query` to change past `since`; the wait is cancelled with the fiber. */
const awaitResult = (reads: RenderedReads["Type"], query: ListQuery, since: number) =>
  Effect.async<RenderedList>((resume) => {
    const cancel = reads.awaitChange(query, since, (list) => resume(Effect.succeed(list)))
    return Effect.sync(cancel)
  })

export const layerRegistryHandlers = HttpApiBuilder.group(groupApi(RegistryApi), "registry", (handlers) =>
  Effect.gen(function*() {
    const registry = yield* Registry
    const reads = yield* RenderedReads
    const config = yield* ConfigService
    const lifecycle = yield* Lifecycle

    return handlers
      // The same rendered bytes and per-result waits as the fast path (src/http/fast-path.ts),
      // for what it leaves here: embedded use, telemetry on, or a cluster whose data went stale.
      .handle("list", ({ request, urlParams }) =>
        Effect.gen(function*() {
          const visibility = yield* Operations.visibility
          yield* registry.checkFresh
          const query: ListQuery = {
            visibility,
            filter: { services: urlParams.service, tag: urlParams.tag, zone: urlParams.zone, status: urlParams.status }
          }
          const current = reads.list(query)
          // An index from the future means the client knew another history (a reset store): answer at once.
          const since = urlParams.index
          const list = since === undefined || since > current.index ? current : yield* asBlockingQuery(Effect.raceFirst(
            awaitResult(reads, query, since),
            Effect.zipRight(
              Effect.raceFirst(Effect.sleep(Duration.min(urlParams.wait ?? defaultWait, (yield* config.current).registry.maxWait)), lifecycle.shutdown),
              Effect.sync(() => reads.list(query))
            )
          ))
          const etag = `"${list.modifiedIndex}-${visibility}"`
          const headers = { "x-miko-index": String(list.index), etag, "cache-control": "no-cache" }
          if (request.headers["if-none-match"] === etag) return HttpServerResponse.empty({ status: 304, headers })
          return HttpServerResponse.uint8Array(list.body, { contentType: "application/json", headers })
        }))
      .handle("services", () => Operations.listServices)
      .handle("service", ({ path }) => Operations.getService(path.service))
      .handle("register", ({ path, payload }) =>
        Effect.map(Operations.registerEndpoint(path.service, payload), ({ endpoint, created }) =>
          HttpServerResponse.unsafeJson(endpoint, { status: created ? 201 : 200 })))
      .handle("heartbeat", ({ path }) => Operations.heartbeatEndpoint(path.service, path.id))
      .handle("deregister", ({ path }) => Operations.deregisterEndpoint(path.service, path.id))
  }))
