/**
 * A small Effect HTTP app that embeds Miko: its own `/hello` route beside Miko's endpoint list at
 * `/miko/v1/endpoints`, one of its Effects on a cron trigger and one on an event, and its own
 * endpoint registered at start and removed at shutdown. Configuration comes from an object.
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import { createServer } from "node:http"
import { Environment, Http, layerDatabaseFromConfig, layerEmbedded } from "miko"
import * as MikoConfig from "miko/config"
import { Registry } from "miko/registry"
import { CurrentRun, Scheduler } from "miko/scheduler"

const port = Number(process.env["PORT"] ?? 8080)
const dataDir = process.env["APP_DATA_DIR"] ?? "./app-data"

/** Miko's configuration, given in code and validated by Miko's own Schema. */
const mikoConfig = {
  general: { dataDir, shutdownTimeout: "3s" },
  http: { port },
  auth: { tokens: [{ name: "app", secretEnv: "APP_MIKO_TOKEN", roles: ["admin"] }] }
}

/** The app's own background work, registered with Miko's scheduler. */
const Tasks = Layer.scopedDiscard(
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const reports = yield* Ref.make(0)
    yield* scheduler.add({
      name: "report",
      triggers: [{ cron: process.env["REPORT_CRON"] ?? "*/2 * * * * *" }],
      work: Effect.gen(function*() {
        const run = yield* CurrentRun
        const count = yield* Ref.updateAndGet(reports, (n) => n + 1)
        yield* Effect.logInfo(`report #${count} (${run.trigger})`)
      })
    })
    yield* scheduler.add({
      name: "reindex",
      triggers: [{ event: "reindex" }],
      // Long enough that a shutdown may catch it mid-run: it is then recorded as interrupted.
      work: Effect.zipRight(Effect.logInfo("reindexing"), Effect.sleep("1 second"))
    })
  })
)

/** The app announces itself in Miko's directory while it runs. */
const SelfRegistration = Layer.scopedDiscard(
  Effect.gen(function*() {
    const registry = yield* Registry
    yield* Effect.acquireRelease(
      registry.register("embedded-app", {
        id: "embedded-app-1",
        publicAddress: `http://127.0.0.1:${port}`,
        protocol: "http",
        weight: 1,
        tags: ["example"],
        metadata: {}
      }),
      () => Effect.ignore(registry.deregister("embedded-app", "embedded-app-1"))
    )
  })
)

const Routes = Layer.unwrapEffect(
  Effect.gen(function*() {
    const miko = yield* Http.MikoHttpApp
    const scheduler = yield* Scheduler
    const router = HttpRouter.empty.pipe(
      HttpRouter.get("/hello", HttpServerResponse.text("hello from the embedded app")),
      HttpRouter.post("/reindex", Effect.flatMap(scheduler.fire("reindex"), (fired) => HttpServerResponse.json(fired))),
      HttpRouter.mountApp("/miko", miko)
    )
    return HttpServer.serve(router).pipe(HttpServer.withLogAddress)
  })
)

const App = Layer.mergeAll(Routes, Tasks, SelfRegistration).pipe(
  Layer.provide(NodeHttpServer.layer(() => createServer(), { host: "127.0.0.1", port })),
  Layer.provideMerge(layerEmbedded()),
  // The database mikoConfig names: by default SQLite in general.dataDir, migrated at start.
  Layer.provideMerge(layerDatabaseFromConfig()),
  Layer.provideMerge(MikoConfig.layerFromObject(mikoConfig)),
  // Where Miko reads the variables secretEnv names (APP_MIKO_TOKEN): this process's environment.
  Layer.provideMerge(Environment.layerProcess),
  Layer.provideMerge(NodeContext.layer)
)

NodeRuntime.runMain(Layer.launch(App))
