import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { type ConfigChange, createClient, KvForbidden, KvKeyNotFound, KvVersionConflict, MikoClient, type MikoPromiseClient } from "../../sdk/ts/src/index.js"
import { api, cleanup, tempDir } from "../support/miko.js"
import { admin, billingReader, billingWriter, eventually, freePort, type Miko, sleep, startSdkMiko } from "./support.js"

let miko: Miko
const clients: Array<MikoPromiseClient> = []
const mikos: Array<Miko> = []

const client = (options: Parameters<typeof createClient>[0]) => {
  const created = createClient(options)
  clients.push(created)
  return created
}

/** Writes a key the way an operator would, with the admin token. */
const putVia = async (at: Miko, key: string, value: unknown) => {
  const answer = await api(`${at.url}/v1/kv/${key}`, { method: "PUT", token: admin, body: { value } })
  if (answer.status !== 200) throw new Error(`PUT ${key}: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer
}

beforeAll(async () => {
  miko = await startSdkMiko()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await miko.stop()
  await Promise.all(mikos.map((m) => m.stop()))
  for (const started of [miko, ...mikos]) cleanup(started.dir)
})

describe("client.config(prefix): a live copy of the keys under a prefix", () => {
  it("a change reaches a running client within 1 s: typed reads with defaults, listeners and the async iterator", async () => {
    await putVia(miko, "billing/live/pool-size", 10)
    await putVia(miko, "other/live/flag", true)
    const config = client({ address: miko.url, token: billingWriter, backoff: { min: "50ms" } }).config("billing/live/")
    await config.ready()
    expect(config.get("pool-size")).toBe(10)
    expect(config.read("pool-size", Schema.Number, 1)).toBe(10)
    expect(config.read("missing", Schema.Number, 7)).toBe(7)
    expect(config.get("missing", "fallback")).toBe("fallback")
    expect(config.entry("pool-size")).toMatchObject({ key: "pool-size", version: 1, updatedBy: "admin", secret: false })
    expect([...config.entries().keys()]).toEqual(["pool-size"])
    expect(() => config.read("pool-size", Schema.String, "x")).toThrow(expect.objectContaining({ _tag: "InvalidConfigValue" }))

    const heard: Array<ConfigChange> = []
    const stop = config.onChange((change) => heard.push(change))
    const iterated: Array<ConfigChange> = []
    const iterating = (async () => {
      for await (const change of config.changes()) {
        iterated.push(change)
        if (iterated.length === 2) return
      }
    })()
    await sleep(100)

    await putVia(miko, "billing/live/pool-size", 20)
    const written = Date.now()
    await eventually(() => config.get("pool-size") === 20, 1_000, "the new value within 1 s")
    const seenAfter = Date.now() - written
    expect(seenAfter).toBeLessThan(1_000)
    await eventually(() => heard.length === 1, 1_000, "the listener")
    expect(heard[0]).toMatchObject({ _tag: "Set", key: "pool-size", entry: { value: 20, version: 2 }, previous: { value: 10 } })

    // Unrelated keys do not reach the copy; a deletion does.
    await putVia(miko, "other/live/flag", false)
    expect((await api(`${miko.url}/v1/kv/billing/live/pool-size`, { method: "DELETE", token: admin })).status).toBe(200)
    await eventually(() => config.get("pool-size") === undefined, 1_000, "the deletion")
    await iterating
    expect(iterated.map((c) => c._tag)).toEqual(["Set", "Deleted"])
    expect(heard.map((c) => c._tag)).toEqual(["Set", "Deleted"])
    stop()
    await config.close()
  })

  it("Miko restarted: the last values are served meanwhile, and refreshed once it is back", async () => {
    const port = await freePort()
    const dir = tempDir("miko-sdk-")
    const first = await startSdkMiko({ port, dir })
    mikos.push(first)
    await putVia(first, "billing/restart/rate", 0.5)
    const c = client({ address: first.url, token: billingWriter, backoff: { min: "50ms", max: "250ms" } })
    const config = c.config("billing/restart/")
    await config.ready()
    expect(config.stale()).toBe(false)

    expect(await first.stop()).toBe(0)
    await eventually(() => config.stale(), 10_000, "the view noticing Miko is gone")
    expect(config.get("rate")).toBe(0.5)
    expect(config.read("rate", Schema.Number, 1)).toBe(0.5)
    await config.ready()

    const second = await startSdkMiko({ port, dir })
    mikos.push(second)
    await putVia(second, "billing/restart/rate", 0.75)
    await eventually(() => config.get("rate") === 0.75, 10_000, "the value written after the restart")
    expect(config.stale()).toBe(false)
    expect(config.entry("rate")?.version).toBe(2)
  })

  it("a denied prefix is a KvForbidden, for reads and writes alike", async () => {
    const c = client({ address: miko.url, token: billingWriter })
    const denied = c.config("payroll/")
    await expect(denied.ready()).rejects.toBeInstanceOf(KvForbidden)
    await expect(denied.set("salary", 1)).rejects.toMatchObject({ _tag: "KvForbidden", key: "payroll/salary" })
    expect(denied.get("salary", "none")).toBe("none")
    const anonymous = client({ address: miko.url, token: "" }).config("billing/")
    await expect(anonymous.ready()).rejects.toMatchObject({ _tag: "KvForbidden" })
  })

  it("a secret value is in a writer's copy and left out of a reader's, which answers the fallback; readers may not write", async () => {
    const writer = client({ address: miko.url, token: billingWriter }).config("billing/secret/")
    await writer.set("api-key", "s3cret", { secret: true })
    await writer.set("region", "eu")
    await writer.ready()
    await eventually(() => writer.get("api-key") === "s3cret", 1_000, "the writer's copy")
    const reader = client({ address: miko.url, token: billingReader }).config("billing/secret/")
    await reader.ready()
    expect(reader.get("region")).toBe("eu")
    expect(reader.entry("api-key")).toMatchObject({ key: "api-key", secret: true, version: 1 })
    expect(reader.entry("api-key")).not.toHaveProperty("value")
    expect(reader.get("api-key", "hidden")).toBe("hidden")
    expect(reader.read("api-key", Schema.String, "hidden")).toBe("hidden")
    await expect(reader.set("region", "us")).rejects.toBeInstanceOf(KvForbidden)
  })

  it("compare-and-set: a lost race is a KvVersionConflict; create-only and conditional deletes too", async () => {
    const config = client({ address: miko.url, token: billingWriter }).config("billing/cas/")
    const created = await config.set("limit", 100, { create: true, comment: "first" })
    expect(created).toMatchObject({ key: "billing/cas/limit", version: 1, updatedBy: "billing" })
    await expect(config.set("limit", 101, { create: true })).rejects.toBeInstanceOf(KvVersionConflict)
    expect((await config.set("limit", 200, { ifVersion: 1 })).version).toBe(2)
    await expect(config.set("limit", 300, { ifVersion: 1 })).rejects.toMatchObject({ _tag: "KvVersionConflict", key: "billing/cas/limit" })
    await expect(config.set("nothing-here", 1, { ifVersion: 1 })).rejects.toBeInstanceOf(KvVersionConflict)
    await expect(config.delete("limit", { ifVersion: 1 })).rejects.toBeInstanceOf(KvVersionConflict)
    expect((await config.delete("limit", { ifVersion: 2 })).version).toBe(3)
    await expect(config.delete("limit")).rejects.toBeInstanceOf(KvKeyNotFound)
    // A write after the delete takes the next version: versions are never reused.
    expect((await config.set("limit", 1, { create: true })).version).toBe(4)
    await eventually(() => config.get("limit") === 1, 1_000, "the copy following its own writes")
  })

  it.live("Effect: readOr with a Schema, a Stream of changes, and typed errors to catch by tag", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => putVia(miko, "billing/effect/retries", 3))
      const config = yield* MikoClient.config("billing/effect/")
      yield* config.ready
      expect(yield* config.readOr("retries", Schema.Number, 1)).toBe(3)
      expect(yield* config.readOr("timeout", Schema.String, "5s")).toBe("5s")
      expect(Option.getOrThrow(yield* config.get("retries"))).toBe(3)

      const next = yield* config.changes.pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("100 millis")
      yield* config.set("retries", 4)
      const [change] = Chunk.toReadonlyArray(yield* Fiber.join(next).pipe(Effect.timeout("1 second")))
      expect(change).toMatchObject({ _tag: "Set", key: "retries", entry: { value: 4 } })

      const conflict = yield* config.set("retries", 5, { ifVersion: 1 }).pipe(
        Effect.catchTag("KvVersionConflict", (error) => Effect.succeed(error.key))
      )
      expect(conflict).toBe("billing/effect/retries")
      const denied = yield* MikoClient.config("payroll/")
      expect(yield* Effect.flip(denied.ready)).toBeInstanceOf(KvForbidden)
    }).pipe(Effect.scoped, Effect.provide(MikoClient.layer({ address: miko.url, token: billingWriter }))))
})
