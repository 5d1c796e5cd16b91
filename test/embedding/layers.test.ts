import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Auth, Config, Environment, layerCluster, layerEmbedded, Registry, Scheduler, Storage } from "../../src/index.js"
import { cleanup, tempDir } from "../support/miko.js"

/** What an embedder writes: config from an object, its own SQLite (in memory here), no HTTP server. */
const embedded = (config: Record<string, unknown>) => {
  const storage = Storage.layerSqliteFile(":memory:")
  const configService = Config.layer.pipe(Layer.provide(Config.layerStoreMemory), Layer.provide(Config.layerFromObject(config)))
  const registry = Registry.layerHealth.pipe(Layer.provideMerge(Registry.layer), Layer.provide(Registry.layerStoreSql))
  return Layer.mergeAll(registry, Scheduler.layer).pipe(
    Layer.provideMerge(layerCluster),
    Layer.provideMerge(configService),
    Layer.provideMerge(storage)
  )
}

describe("Miko's layers inside another Effect app, without HTTP", () => {
  it.scoped("a code task on a cron trigger fires at the exact instants", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const fired = yield* Ref.make<Array<number>>([])
      yield* scheduler.add({
        name: "every-ten-seconds",
        triggers: [{ cron: "*/10 * * * * *" }],
        work: Effect.flatMap(Effect.clockWith((clock) => clock.currentTimeMillis), (now) => Ref.update(fired, (list) => [...list, now]))
      })
      for (let i = 0; i < 3; i++) yield* TestClock.adjust(Duration.seconds(10))
      yield* Effect.yieldNow()
      const instants = (yield* Ref.get(fired)).map((t) => new Date(t).toISOString())
      expect(instants).toEqual(["1970-01-01T00:00:10.000Z", "1970-01-01T00:00:20.000Z", "1970-01-01T00:00:30.000Z"])
    }).pipe(Effect.provide(embedded({}))))

  it.scoped("a code task on an event trigger runs when the event is raised in code", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler.Scheduler
      const runs = yield* Ref.make(0)
      yield* scheduler.add({ name: "on-deploy", triggers: [{ event: "deploy" }], work: Ref.update(runs, (n) => n + 1) })
      yield* scheduler.fire("deploy")
      yield* TestClock.adjust(Duration.millis(10))
      yield* Effect.yieldNow()
      expect(yield* Ref.get(runs)).toBe(1)
    }).pipe(Effect.provide(embedded({}))))

  it.scoped("a registry subscriber sees a registration and its expiry", () =>
    Effect.gen(function*() {
      const registry = yield* Registry.Registry
      const events = yield* Ref.make<Array<string>>([])
      const pull = yield* Stream.toPull(registry.watch())
      const take = Effect.flatMap(pull, (chunk) =>
        Ref.update(events, (list) => [
          ...list,
          ...Chunk.toReadonlyArray(chunk).map((event) => event._tag === "Snapshot" ? "snapshot" : `${event.change.type}:${Registry.statusOf(event.record)}`)
        ]))
      yield* take
      yield* registry.register("web", { id: "web-1", publicAddress: "https://web.example.com", protocol: "http", weight: 1, tags: [], metadata: {}, ttl: Duration.seconds(1) })
      yield* take
      yield* TestClock.adjust(Duration.millis(1_500))
      yield* take
      yield* TestClock.adjust(Duration.millis(1_500))
      yield* take
      expect(yield* Ref.get(events)).toEqual(["snapshot", "registered:passing", "status:critical", "deregistered:critical"])
    }).pipe(Effect.provide(embedded({ registry: { deregisterCriticalAfter: "1s" } }))))

  it.scoped("a config change is seen through the subscription", () =>
    Effect.gen(function*() {
      const config = yield* Config.ConfigService
      const pull = yield* Stream.toPull(Stream.map(config.changes, (c) => c.scheduler.maxRunningTasks))
      expect(Chunk.toReadonlyArray(yield* pull)).toEqual([8])
      yield* config.set("scheduler.maxRunningTasks", 3)
      expect(Chunk.toReadonlyArray(yield* pull)).toEqual([3])
    }).pipe(Effect.provide(embedded({}))))

  it.effect("an invalid config object is a typed error naming the key, never a throw", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(Config.layerFromObject({ http: { port: "eighty" } })).pipe(Effect.scoped))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(Layer.build(Config.layerFromObject({ http: { port: "eighty" } })).pipe(Effect.scoped))
      expect(error._tag).toBe("ConfigLoadError")
      expect(error.message).toContain("config object: http.port")
      expect(error.message).toContain("\"eighty\"")
    }))
})

describe("the environment is one service, Environment", () => {
  it.effect("Config.layerFromFiles finds MIKO_CONFIG and reads MIKO_* overrides in the service, or in env when given", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const path = join(dir, "named.yaml")
      writeFileSync(path, "scheduler:\n  maxRunningTasks: 2\n")
      const variables = { MIKO_CONFIG: path, MIKO_GENERAL__LOG_LEVEL: "debug" }
      const read = (layer: Layer.Layer<Config.BaseConfig, Config.ConfigLoadError>) =>
        Effect.map(Config.BaseConfig, ({ resolved, file }) => ({ ...resolved.config.scheduler, ...resolved.config.general, file })).pipe(
          Effect.provide(layer)
        )
      const fromService = yield* read(Config.layerFromFiles({ cwd: dir }).pipe(Layer.provide(Environment.layerFrom(variables)), Layer.provide(NodeContext.layer)))
      const fromOption = yield* read(Config.layerFromFiles({ cwd: dir, env: variables }).pipe(Layer.provide(NodeContext.layer)))
      cleanup(dir)
      for (const config of [fromService, fromOption]) {
        expect(config).toMatchObject({ maxRunningTasks: 2, logLevel: "debug", file: Option.some(path) })
      }
    }))

  it.scoped("layerEmbedded reads a token's secretEnv in the service, or in env when given", () =>
    Effect.gen(function*() {
      const secret = "embedded-secret-0123456789"
      const config = Config.layerFromObject({ auth: { tokens: [{ name: "app", secretEnv: "APP_TOKEN", roles: ["admin"] }] } })
      const withDatabase = <A, E, R>(layer: Layer.Layer<A, E, R>) =>
        layer.pipe(Layer.provide(Storage.layerSqliteFile(":memory:")), Layer.provide(config), Layer.provide(NodeContext.layer))
      const callerOf = (layer: Layer.Layer<Auth.Tokens, unknown>) =>
        Effect.flatMap(Auth.Tokens, (tokens) => tokens.authenticate(secret)).pipe(Effect.provide(layer))
      const fromService = yield* callerOf(withDatabase(layerEmbedded()).pipe(Layer.provide(Environment.layerFrom({ APP_TOKEN: secret }))))
      const fromOption = yield* callerOf(withDatabase(layerEmbedded({ env: { APP_TOKEN: secret } })))
      for (const caller of [fromService, fromOption]) expect(Option.map(caller, (c) => c.name)).toEqual(Option.some("app"))
    }))
})
