import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { createClient, MikoClient, type MikoPromiseClient } from "../../sdk/ts/src/index.js"
import { cleanup, tempDir } from "../support/miko.js"
import { type Backend, eventually, freePort, type Miko, registerVia, startBackend, startSdkMiko } from "./support.js"

const backends: Array<Backend> = []
const clients: Array<MikoPromiseClient> = []
const mikos: Array<Miko> = []

const start = async (options: { port: number; dir: string }) => {
  const miko = await startSdkMiko(options)
  mikos.push(miko)
  return miko
}
const backend = async (name: string) => {
  const started = await startBackend(name)
  backends.push(started)
  return started
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(backends.map((b) => b.stop()))
  await Promise.all(mikos.map((m) => m.stop()))
  for (const miko of mikos) cleanup(miko.dir)
})

const reaches = async (c: MikoPromiseClient, service: string, name: string) => {
  const response = await c.fetch(`http://${service}/`).catch(() => undefined)
  return response?.status === 200 && ((await response.json()) as { name: string }).name === name
}

describe("when Miko goes away", () => {
  it("requests keep using the last good list; after a restart on the same port and data, updates flow again", async () => {
    const port = await freePort()
    const dir = tempDir("miko-sdk-")
    const first = await start({ port, dir })
    const steady = await backend("steady-1")
    await registerVia(first, "steady", { id: "steady-1", publicAddress: steady.url })
    const c = createClient({ address: first.url, backoff: { min: "50ms", max: "250ms" } })
    clients.push(c)
    await eventually(() => reaches(c, "steady", "steady-1"))
    expect(c.stale()).toBe(false)

    expect(await first.stop()).toBe(0)
    await eventually(() => c.stale(), 10_000, "the client noticing Miko is gone")
    const confirmed = c.lastUpdated()
    for (let i = 0; i < 20; i++) expect(await reaches(c, "steady", "steady-1")).toBe(true)
    expect((await c.pick("steady")).id).toBe("steady-1")
    expect(c.lastUpdated()).toEqual(confirmed)

    const second = await start({ port, dir })
    const newcomer = await backend("newcomer-1")
    await registerVia(second, "newcomer", { id: "newcomer-1", publicAddress: newcomer.url })
    await eventually(() => reaches(c, "newcomer", "newcomer-1"), 10_000, "the update after the restart")
    expect(c.stale()).toBe(false)
    expect(await reaches(c, "steady", "steady-1")).toBe(true)
  })

  it.live("a Miko that comes back with an empty store (a lower index) replaces the list; the Effect client reports staleness meanwhile", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort())
      const first = yield* Effect.promise(() => start({ port, dir: tempDir("miko-sdk-") }))
      const layer = yield* Layer.memoize(MikoClient.layer({ address: first.url, backoff: { min: "50ms", max: "250ms" } }))
      const old = yield* Effect.promise(() => backend("old-1"))
      for (let i = 0; i < 5; i++) {
        yield* Effect.promise(() => registerVia(first, "old", { id: `old-${i}`, publicAddress: old.url }))
      }
      const client = yield* Effect.provide(MikoClient, layer)
      const waitFor = (check: Effect.Effect<boolean>) => Effect.promise(() => eventually(() => Effect.runPromise(check), 10_000))
      yield* waitFor(Effect.map(Effect.either(client.endpoints("old")), (e) => e._tag === "Right" && e.right.length === 5))
      const before = Option.getOrThrow(yield* client.index)

      yield* Effect.promise(() => first.stop())
      yield* waitFor(client.stale)
      expect((yield* client.pick("old")).address).toBe(old.url)

      const second = yield* Effect.promise(() => start({ port, dir: tempDir("miko-sdk-") }))
      const fresh = yield* Effect.promise(() => backend("fresh-1"))
      yield* Effect.promise(() => registerVia(second, "fresh", { id: "fresh-1", publicAddress: fresh.url }))
      yield* waitFor(Effect.map(Effect.either(client.pick("fresh")), (e) => e._tag === "Right"))
      expect(Option.getOrThrow(yield* client.index)).toBeLessThan(before)
      expect(yield* Effect.flip(client.pick("old"))).toMatchObject({ _tag: "UnknownService" })
      expect(yield* client.stale).toBe(false)
    }).pipe(Effect.scoped))
})
