import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import { layerAuthentication, layerTokens } from "./auth/index.js"
import * as Cluster from "./cluster/index.js"
import * as Config from "./config/index.js"
import * as Kv from "./kv/index.js"
import { layerHttpApp, layerNodeServer, layerServe, Lifecycle, layerLifecycle } from "./http/index.js"
import * as Registry from "./registry/index.js"
import * as Scheduler from "./scheduler/index.js"
import { type EnvironmentVariables, provideEnvironment, provideEnvironmentArgument } from "./shared/environment.js"
import { layerDatabase, type StorageSettings } from "./storage/index.js"
import { layerHeapMode, layerHeapSettled, layerLogger, layerMetrics, layerOtel, layerProcessMetrics } from "./telemetry/index.js"

/**
 * Where the standalone service reads its configuration from. The environment is the
 * `Environment` service, or `env` when given (a convenience that provides the service).
 */
export interface ServiceOptions {
  readonly configPath?: string | undefined
  readonly env?: EnvironmentVariables | undefined
  readonly cwd: string
  readonly home?: string | undefined
}

/** Storage's settings from Miko's config: the `storage` section as it is, and the data dir. */
const storageSettings = (config: Config.MikoConfig): StorageSettings => ({ ...config.storage, dataDir: config.general.dataDir })

/**
 * The database `storage.driver` names, opened with the settings in `BaseConfig`. Storage sits
 * below config and takes its settings as arguments; this is where the two meet, and where a
 * setting that cannot work (no PostgreSQL URL, an unset variable) becomes the `ConfigLoadError`
 * the binary reports with exit code 2, naming the key.
 */
const layerDatabaseOfBaseConfig = Layer.unwrapEffect(
  Effect.map(Config.BaseConfig, ({ resolved }) => layerDatabase(storageSettings(resolved.config)))
).pipe(
  Layer.mapError((error) => Predicate.isTagged(error, "StorageSettingsError") ? new Config.ConfigLoadError({ message: error.message }) : error)
)

/** The same, with `storage.postgres.secretEnv` read from the `Environment` service, or from `env` when given. */
export const layerDatabaseFromConfig = <Variables extends EnvironmentVariables | undefined = undefined>(
  ...[env]: [env?: Variables]
) => provideEnvironmentArgument(layerDatabaseOfBaseConfig, env)

/** One value, so every layer that asks for the config service shares one instance. */
const layerConfigService = Config.layer.pipe(Layer.provide(Config.layerStoreSql))

/**
 * The core services every capability builds on, given a `BaseConfig`, a `SqlClient` and the
 * `Environment` (where `secretEnv` of `auth.tokens` is read): the live config, tokens, and the
 * process lifecycle.
 */
const layerCoreServices = Layer.mergeAll(layerAuthentication, layerLifecycle).pipe(
  Layer.provideMerge(layerTokens()),
  Layer.provideMerge(layerConfigService)
)

/** The core services, with the `Environment` from `env` when given. */
export const layerCore = <Variables extends EnvironmentVariables | undefined = undefined>(...[env]: [env?: Variables]) =>
  provideEnvironmentArgument(layerCoreServices, env)


/** This replica's place among those sharing the database: leader lease and check-ins. */
export const layerCluster = Cluster.layer.pipe(Layer.provide(Cluster.layerStoreSql))

/** The application keys with their store; the scheduler's kvChanged triggers follow them. */
export const layerKv = Layer.merge(Kv.layer.pipe(Layer.provide(Kv.layerStoreSql)), Kv.layerWriteGate)

/** The endpoint directory with its store, lease expiry and health checks. */
export const layerRegistry = Layer.mergeAll(Registry.layerHealth, Registry.layerRendered).pipe(
  Layer.provideMerge(Registry.layer),
  Layer.provide(Registry.layerStoreSql)
)

/**
 * Config, directory and scheduler, for the standalone service and for embedders alike.
 * The scheduler sits above storage, so on shutdown running tasks are drained and recorded
 * before the database closes.
 */
const layerCapabilities = Layer.merge(layerRegistry, Scheduler.layerKvTriggers).pipe(
  Layer.provideMerge(Scheduler.layer),
  Layer.provideMerge(layerKv),
  Layer.provideMerge(layerCluster),
  Layer.provideMerge(layerCoreServices)
)

/**
 * Miko inside another Effect app: the live config, the directory, the scheduler and Miko's HTTP
 * API as an `HttpApp` to mount (`MikoHttpApp`), without a server of its own and without
 * touching the app's logger. Needs a `BaseConfig` (`Config.layerFromObject`), a `SqlClient` and
 * `Notifications` (`layerDatabaseFromConfig` for the database the config names, or the app's own
 * `SqlClient` with `Storage.layerMigrations`), a `FileSystem`, and the `Environment` unless
 * `options.env` gives its variables. When the app shuts down, readiness turns false and waits end first.
 */
export const layerEmbedded = <Options extends { readonly env?: EnvironmentVariables | undefined } = {}>(
  // Left out, `Options` is `{}`: the layer reads the `Environment` service.
  options: Options = {} as Options
) => {
  const shutdownSignal = Layer.scopedDiscard(
    Effect.flatMap(Lifecycle, (lifecycle) => Effect.addFinalizer(() => lifecycle.beginShutdown))
  )
  return provideEnvironment(Layer.mergeAll(layerHttpApp, shutdownSignal).pipe(Layer.provideMerge(layerCapabilities)), options)
}

/**
 * The series read when metrics are collected (endpoints by status, the cluster, the process), and
 * the scheduler's at zero from the start (docs/metrics.md).
 */
const layerObservedSeries = Layer.mergeAll(
  Registry.layerMetrics,
  Cluster.layerMetrics,
  layerProcessMetrics,
  Layer.effectDiscard(Scheduler.SchedulerMetrics.initialize)
)

/**
 * The whole standalone service: config from files and environment, the database `storage.driver` names,
 * telemetry, the process logger, and the HTTP API on `http.host`:`http.port`. Needs the
 * `Environment` (the binary provides the process's) unless `options.env` gives its variables.
 */
export const layerService = <Options extends ServiceOptions>(options: Options) => {
  const server = layerServe.pipe(Layer.provide(layerNodeServer))
  const service = Layer.mergeAll(server, layerObservedSeries).pipe(
    // The heap's mode for loading the directory is set before the capabilities, and settled after them.
    Layer.provideMerge(layerHeapSettled),
    Layer.provideMerge(layerCapabilities),
    Layer.provideMerge(layerHeapMode),
    Layer.provideMerge(layerLogger),
    Layer.provideMerge(layerConfigService),
    Layer.provideMerge(layerDatabaseOfBaseConfig),
    Layer.provideMerge(layerOtel),
    Layer.provideMerge(layerMetrics),
    Layer.provideMerge(Config.layerFromFiles({ configPath: options.configPath, cwd: options.cwd, home: options.home })),
    Layer.provideMerge(NodeContext.layer)
  )
  return provideEnvironment(service, options)
}

/**
 * Layers that wait up to `general.shutdownTimeout` themselves (the scheduler lets running tasks
 * finish) still have to interrupt and record what is left; the overrun watchdog allows for that.
 */
const overrunGrace = Duration.seconds(5)

/**
 * Runs the service until interrupted. On interruption readiness turns false first and the
 * scheduler starts its controlled shutdown, then the server stops accepting connections and
 * finishes in-flight requests, then every layer is released in reverse order. Requests and tasks
 * share one `general.shutdownTimeout`, counted from the signal (the server's connections are held
 * to it in ./http/connections.ts); a shutdown that overruns it by more than the grace calls `onOverrun`.
 */
export const runService = <Options extends ServiceOptions>(options: Options, onOverrun: Effect.Effect<void>) =>
  Effect.scoped(
    Effect.gen(function*() {
      const context = yield* Layer.build(layerService(options))
      const lifecycle = Context.get(context, Lifecycle)
      const config = Context.get(context, Config.ConfigService)
      const scheduler = Context.get(context, Scheduler.Scheduler)
      yield* Effect.addFinalizer(() =>
        Effect.gen(function*() {
          const timeout = (yield* config.current).general.shutdownTimeout
          yield* Effect.logInfo(`shutting down (at most ${Duration.format(timeout)})`)
          yield* lifecycle.beginShutdown
          yield* Effect.forkDaemon(Effect.zipRight(Effect.sleep(Duration.sum(timeout, overrunGrace)), onOverrun))
          // Released in layer order, the scheduler would start its wait only once the server is
          // closed, and the two waits would add up; its release then waits for this same run.
          yield* Effect.forkDaemon(scheduler.shutdown)
          // WebSocket sessions close themselves (1001) once told; give them a moment before the server goes.
          yield* lifecycle.drained.pipe(Effect.timeout(Duration.seconds(3)), Effect.ignore)
        })
      )
      return yield* Effect.never
    })
  )

