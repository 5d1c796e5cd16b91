import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { layerClusterHandlers } from "../cluster/http.js"
import { layerConfigHandlers } from "../config/http.js"
import { BaseConfig } from "../config/load.js"
import { layerKvHandlers } from "../kv/http.js"
import { layerRegistryHandlers } from "../registry/http.js"
import { layerSchedulerHandlers } from "../scheduler/http.js"
import { layerSessions, layerWebSocketRoute, makeUpgradeHandler } from "../websocket/server.js"
import { MikoApi } from "./api.js"
import { layerConsoleRoute } from "./console.js"
import { layerDocsRoute } from "./docs.js"
import { closeConnectionsOnShutdown } from "./connections.js"
import { makeFastPath } from "./fast-path.js"
import { FastPathServer } from "./fast-server.js"
import { layerEdge } from "./edge.js"
import { layerMetricsRoute } from "./metrics-route.js"
import { layerSystemHandlers } from "./system.js"

/** The Miko API with every group's handlers, `/openapi.json`, `/docs` and the console at `/ui`. */
export const layerApi = Layer.mergeAll(
  HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
  layerDocsRoute,
  layerWebSocketRoute,
  layerConsoleRoute,
  layerMetricsRoute
).pipe(
  Layer.provideMerge(HttpApiBuilder.api(MikoApi)),
  Layer.provide([layerSystemHandlers, layerConfigHandlers, layerRegistryHandlers, layerSchedulerHandlers, layerClusterHandlers, layerKvHandlers, layerEdge])
)

/**
 * A Node HTTP server on `http.host`:`http.port`, with the read fast path and the WebSocket
 * upgrades in front of the API, whose connections end with the shutdown (see ./connections.ts).
 */
export const layerNodeServer = Layer.unwrapScoped(
  Effect.gen(function*() {
    const { resolved } = yield* BaseConfig
    const server = new FastPathServer({ keepAliveTimeout: 5_000 }, yield* makeFastPath, yield* makeUpgradeHandler)
    yield* closeConnectionsOnShutdown(server)
    return NodeHttpServer.layer(() => server, {
      host: resolved.config.http.host,
      port: resolved.config.http.port
    })
  })
).pipe(Layer.provide(layerSessions))

/** Serves the API; logs one line when listening. */
export const layerServe = HttpApiBuilder.serve(HttpMiddleware.withLoggerDisabled).pipe(
  HttpServer.withLogAddress,
  Layer.provide(layerApi)
)
