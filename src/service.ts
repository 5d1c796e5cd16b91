import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { layerAuthentication, layerTokens } from "./auth/index.js"
import * as Config from "./config/index.js"
import { layerNodeServer, layerServe, Lifecycle, layerLifecycle } from "./http/index.js"
import * as Registry from "./registry/index.js"
import { layerSqlite } from "./storage/index.js"
import { layerLogger, layerOtel } from "./telemetry/index.js"

/** Where the standalone service reads its configuration from. */
export interface ServiceOptions {
  readonly configPath?: string | undefined
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  readonly home?: string | undefined
}

/**
 * The core services every capability builds on, given a `BaseConfig` and a `SqlClient`:
 * the live config, tokens, and the process lifecycle.
 */
export const layerCore = (env: Readonly<Record<string, string | undefined>>) => {
  const config = Config.layer.pipe(Layer.provide(Config.layerStoreSql))
  const tokens = layerTokens(env)
  return Layer.mergeAll(layerAuthentication, layerLifecycle).pipe(
    Layer.provideMerge(tokens),
    Layer.provideMerge(layerLogger),
    Layer.provideMerge(config)
  )
}

/** The endpoint directory with its store, lease expiry and health checks. */
export const layerRegistry = Registry.layerHealth.pipe(
  Layer.provideMerge(Registry.layer),
  Layer.provide(Registry.layerStoreSql)
)

/**
 * The whole standalone service: config from files and environment, SQLite in the data dir,
 * telemetry, and the HTTP API on `http.host`:`http.port`.
 */
export const layerService = (options: ServiceOptions) => {
  const base = Config.layerFromFiles(options)
  const storage = layerSqlite
  const server = layerServe.pipe(Layer.provide(layerNodeServer))
  return server.pipe(
    Layer.provideMerge(layerRegistry),
    Layer.provideMerge(layerCore(options.env)),
    Layer.provideMerge(storage),
    Layer.provideMerge(layerOtel),
    Layer.provideMerge(base),
    Layer.provideMerge(NodeContext.layer)
  )
}

/**
 * Runs the service until interrupted. On interruption readiness turns false first, then the
 * server stops accepting connections and finishes in-flight requests, then every layer is
 * released in reverse order. A shutdown that overruns `general.shutdownTimeout` calls `onOverrun`.
 */
export const runService = (options: ServiceOptions, onOverrun: Effect.Effect<void>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const context = yield* Layer.build(layerService(options))
      const lifecycle = Context.get(context, Lifecycle)
      const config = Context.get(context, Config.ConfigService)
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          const timeout = (yield* config.current).general.shutdownTimeout
          yield* Effect.logInfo(`shutting down (at most ${Duration.format(timeout)})`)
          yield* lifecycle.beginShutdown
          yield* Effect.forkDaemon(Effect.zipRight(Effect.sleep(timeout), onOverrun))
        })
      )
      return yield* Effect.never
    })
  )

