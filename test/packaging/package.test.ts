import { afterAll, describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { cleanup, repoRoot, tempDir } from "../support/miko.js"

/**
 * The package as an outside user gets it: `npm pack`, unpacked as node_modules/miko of a fresh
 * project. Its dependencies are linked from this checkout's node_modules rather than downloaded
 * and compiled again; what is under test is the packed artifact itself (files, exports, types).
 */
/** Runs a command without blocking the test worker; resolves with its exit status and output. */
const run = (command: string, args: ReadonlyArray<string>, options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(command, args, { ...options, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
  })

const packConsumerProject = async () => {
  const dir = tempDir("miko-consumer-")
  const packed = (await run("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: repoRoot })).stdout.trim().split("\n").pop()!
  const modules = join(dir, "node_modules")
  mkdirSync(join(modules, "miko"), { recursive: true })
  await run("tar", ["-xzf", join(dir, packed), "-C", join(modules, "miko"), "--strip-components=1"], { cwd: dir })
  for (const entry of readdirSync(join(repoRoot, "node_modules"))) {
    if (entry === "miko" || entry === ".bin" || entry.startsWith(".")) continue
    symlinkSync(join(repoRoot, "node_modules", entry), join(modules, entry))
  }
  return dir
}

/** Packed once for the whole file; each test works in its own folder of that project. */
let consumer: Promise<string> | undefined
let folders = 0
const makeConsumerProject = async () => {
  consumer ??= packConsumerProject()
  const root = await consumer
  const dir = join(root, `case-${++folders}`)
  mkdirSync(dir)
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"))
  return dir
}

const strictNodeNext = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2023"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    outDir: "dist",
    rootDir: "src"
  },
  include: ["src"]
}

const tsc = (dir: string) => run(process.execPath, [join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { cwd: dir })

afterAll(async () => {
  if (consumer !== undefined) cleanup(await consumer)
})

describe("the packed package", () => {
  it("every subpath type-checks under strict NodeNext and runs", { timeout: 120_000 }, async () => {
    const dir = await makeConsumerProject()
    mkdirSync(join(dir, "src"))
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(strictNodeNext))
    writeFileSync(
      join(dir, "src", "consumer.ts"),
      `import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Config, layerCluster, layerEmbedded, layerService, Registry, Scheduler, Storage, version } from "miko"
import { ClusterApi } from "miko/cluster"
import { ConfigService, layerFromObject, MikoConfigSchema } from "miko/config"
import { Registry as RegistryTag, RegistryApi } from "miko/registry"
import { Scheduler as SchedulerTag, SchedulerApi } from "miko/scheduler"
import { ClientMessage, ServerMessage } from "miko/websocket"
import * as Sdk from "miko/sdk"

const program = Effect.gen(function*() {
  const config = yield* ConfigService
  const current = yield* config.current
  const registry = yield* RegistryTag
  const list = yield* registry.list({}, "public")
  const scheduler = yield* SchedulerTag
  const tasks = yield* scheduler.list
  return { port: current.http.port, index: list.index, tasks: tasks.length }
})

const layer = Layer.mergeAll(Registry.layer, Scheduler.layer).pipe(
  Layer.provide(Registry.layerStoreSql),
  Layer.provide(layerCluster),
  Layer.provideMerge(Config.layer.pipe(Layer.provide(Config.layerStoreMemory))),
  Layer.provide(layerFromObject({ http: { port: 9999 } })),
  Layer.provide(Storage.layerSqliteFile(":memory:"))
)

const result = await Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
const touched = [layerEmbedded, layerService, ClusterApi, MikoConfigSchema, RegistryApi, SchedulerApi, ClientMessage, ServerMessage, Sdk]
console.log(JSON.stringify({ ...result, version, exports: touched.every((x) => x !== undefined) }))
`
    )
    const compiled = await tsc(dir)
    expect(compiled.stdout + compiled.stderr).toBe("")
    expect(compiled.status).toBe(0)
    const ran = await run(process.execPath, [join(dir, "dist", "consumer.js")], { cwd: dir })
    expect(ran.stderr).toBe("")
    expect(JSON.parse(ran.stdout)).toEqual({ port: 9999, index: 1, tasks: 0, version: "0.1.0", exports: true })
    cleanup(dir)
  })

  it("the bin keeps working from the package", { timeout: 60_000 }, async () => {
    const dir = await makeConsumerProject()
    const ran = await run(process.execPath, [join(dir, "node_modules", "miko", "bin", "miko.js"), "version"], { cwd: dir })
    expect(ran.stdout.trim()).toBe("0.1.0")
    cleanup(dir)
  })

  it("the web console is in the package, as /ui serves it", { timeout: 60_000 }, async () => {
    const dir = await makeConsumerProject()
    const consoleDir = join(dir, "node_modules", "miko", "dist", "console")
    const html = readFileSync(join(consoleDir, "index.html"), "utf8")
    const assets = [...html.matchAll(/\/ui\/(assets\/[^"]+)"/g)].map((match) => match[1]!)
    expect(assets.length).toBe(2)
    for (const asset of assets) expect(existsSync(join(consoleDir, asset)), asset).toBe(true)
    cleanup(dir)
  })

  it("the example app builds against the package and passes its own test", { timeout: 120_000 }, async () => {
    const dir = await makeConsumerProject()
    const app = join(dir, "app")
    cpSync(join(repoRoot, "examples", "embedded-app"), app, {
      recursive: true,
      filter: (source) => !/node_modules|dist/.test(source.slice(join(repoRoot, "examples", "embedded-app").length))
    })
    symlinkSync(join(dir, "node_modules"), join(app, "node_modules"))
    const compiled = await tsc(app)
    expect(compiled.stdout + compiled.stderr).toBe("")
    const test = await run(process.execPath, ["--test", "test/"], { cwd: app, timeout: 60_000 })
    expect(test.status, test.stdout + test.stderr).toBe(0)
    cleanup(dir)
  })
})

describe("importing has no side effects", () => {
  it("importing every subpath in an empty directory creates no file and opens no port", { timeout: 60_000 }, async () => {
    const dir = await makeConsumerProject()
    const empty = join(dir, "empty")
    mkdirSync(empty)
    const script = `
      const before = new Set(process.getActiveResourcesInfo())
      await import("miko"); await import("miko/config"); await import("miko/scheduler")
      await import("miko/registry"); await import("miko/websocket"); await import("miko/sdk")
      // Only what a side effect would leave: servers, sockets, timers, file watchers, children.
      // (Writing to stdout itself opens a pipe handle, so pipes are not counted.)
      const opened = process.getActiveResourcesInfo().filter((r) => !before.has(r) && r !== "PipeWrap" && r !== "TTYWrap")
      console.log(JSON.stringify(opened))
    `
    writeFileSync(join(dir, "probe.mjs"), script)
    const ran = await run(process.execPath, [join(dir, "probe.mjs")], { cwd: empty, env: { PATH: process.env["PATH"] ?? "" } })
    expect(ran.stderr).toBe("")
    expect(JSON.parse(ran.stdout)).toEqual([])
    expect(readdirSync(empty)).toEqual([])
    cleanup(dir)
  })
})
