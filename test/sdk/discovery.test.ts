import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { createClient, InvalidMikoAddress, MikoClient, type MikoPromiseClient, UnknownService } from "../../sdk/ts/src/index.js"
import { cleanup } from "../support/miko.js"
import {
  type Backend,
  eventually,
  freePort,
  internalReader,
  type Miko,
  registerVia,
  registrar,
  sleep,
  startBackend,
  startSdkMiko
} from "./support.js"

let miko: Miko
const backends: Array<Backend> = []
const clients: Array<MikoPromiseClient> = []

const backend = async (...args: Parameters<typeof startBackend>) => {
  const started = await startBackend(...args)
  backends.push(started)
  return started
}
const client = (options: Parameters<typeof createClient>[0]) => {
  const created = createClient(options)
  clients.push(created)
  return created
}

beforeAll(async () => {
  miko = await startSdkMiko()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(backends.map((b) => b.stop()))
  await miko.stop()
  cleanup(miko.dir)
})

describe("discovery with only Miko's address", () => {
  it("reaches a service registered after the client started, within 1 s", async () => {
    const miko2 = client({ address: miko.url })
    await miko2.ready()
    await expect(miko2.pick("late")).rejects.toBeInstanceOf(UnknownService)
    const late = await backend("late-1")
    await registerVia(miko, "late", { id: "late-1", publicAddress: late.url })
    const registeredAt = Date.now()
    let body: { name?: string } = {}
    await eventually(async () => {
      const response = await miko2.fetch("http://late/hello?x=1").catch(() => undefined)
      if (response?.status === 200) body = (await response.json()) as typeof body
      return response?.status === 200
    }, 1_000, "the late service reachable")
    expect(Date.now() - registeredAt).toBeLessThan(1_000)
    expect(body).toMatchObject({ name: "late-1", url: "/hello?x=1" })
    expect(miko2.stale()).toBe(false)
    expect(miko2.lastUpdated()).toBeInstanceOf(Date)
    expect((await miko2.pick("late")).address).toBe(late.url)
    expect((await miko2.endpoints("late")).map((e) => e.id)).toEqual(["late-1"])
  })

  it.live("the Effect HttpClient layer resolves http://<service>/path the same way", () =>
    Effect.gen(function*() {
      const effectBackend = yield* Effect.promise(() => backend("effect-1"))
      yield* Effect.promise(() => registerVia(miko, "effect-web", { id: "effect-1", publicAddress: effectBackend.url }))
      const http = yield* HttpClient.HttpClient
      const response = yield* http.get("http://effect-web/items", { urlParams: { page: 2 } }).pipe(
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("2 seconds")))
      )
      expect(response.status).toBe(200)
      expect(yield* response.json).toMatchObject({ name: "effect-1", url: "/items?page=2" })
      const picked = yield* MikoClient.pick("effect-web")
      expect(picked).toMatchObject({ id: "effect-1", address: effectBackend.url, status: "passing" })
      const scoped = yield* MikoClient.httpClientFor("effect-web")
      expect(yield* Effect.flatMap(scoped.get("/direct"), (r) => r.json)).toMatchObject({ url: "/direct" })
      expect(yield* MikoClient.stale).toBe(false)
      // A URL that does not name a service goes to its own host.
      const plain = yield* http.get(`${effectBackend.url}/plain`)
      expect(yield* plain.json).toMatchObject({ url: "/plain" })
    }).pipe(Effect.provide(MikoClient.layerHttpClient.pipe(Layer.provideMerge(MikoClient.layer({ address: miko.url }))))))

  it.live("over the HttpClient in context, a lookup failure reaches HttpClient users as a RequestError caused by the SDK error", () =>
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const error = yield* Effect.flip(http.get("http://nowhere-to-be-found/"))
      expect(error).toMatchObject({ _tag: "RequestError", reason: "Transport" })
      expect(error.cause).toBeInstanceOf(UnknownService)
      // withFailover gives any client the same resolution, keeping the SDK errors typed.
      const plain = yield* Effect.provide(HttpClient.HttpClient, FetchHttpClient.layer)
      const custom = yield* MikoClient.withFailover(plain.pipe(HttpClient.mapRequest(HttpClientRequest.setHeader("x-custom", "1"))))
      const typed = yield* Effect.flip(custom.get("http://nowhere-to-be-found/"))
      expect(typed).toBeInstanceOf(UnknownService)
    }).pipe(
      Effect.provide(MikoClient.layerHttpClient.pipe(
        Layer.provideMerge(MikoClient.layerWithHttpClient({ address: miko.url })),
        Layer.provide(FetchHttpClient.layer)
      ))
    ))

  it("takes Miko's address and token from MIKO_ADDRESS and MIKO_TOKEN", async () => {
    const saved = { address: process.env["MIKO_ADDRESS"], token: process.env["MIKO_TOKEN"] }
    process.env["MIKO_ADDRESS"] = miko.url
    process.env["MIKO_TOKEN"] = "wrong-token-0123456789"
    const fromEnv = (() => {
      try {
        return client({})
      } finally {
        for (const [name, value] of [["MIKO_ADDRESS", saved.address], ["MIKO_TOKEN", saved.token]] as const) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      }
    })()
    expect(fromEnv.address).toBe(miko.url)
    // The token came along: Miko refuses it.
    await expect(fromEnv.ready()).rejects.toMatchObject({ _tag: "MikoUnauthorized" })
  })

  it("a request sent before the first list arrives waits for it", async () => {
    const early = await backend("early-1")
    await registerVia(miko, "early", { id: "early-1", publicAddress: early.url })
    const fresh = client({ address: miko.url })
    const [response, endpoints] = await Promise.all([fresh.fetch("http://early/now"), fresh.endpoints("early")])
    expect(await response.json()).toMatchObject({ name: "early-1", url: "/now" })
    expect(endpoints.map((e) => e.id)).toEqual(["early-1"])
  })

  it("the Promise client passes other URLs through to their own host", async () => {
    const plain = await backend("plain")
    const c = client({ address: miko.url })
    const response = await c.fetch(`${plain.url}/direct`, { method: "POST", body: "x" })
    expect(await response.json()).toMatchObject({ name: "plain", method: "POST", url: "/direct" })
  })
})

describe("public and internal addresses", () => {
  let publicSide: Backend
  let internalSide: Backend

  beforeAll(async () => {
    publicSide = await backend("public-side")
    internalSide = await backend("internal-side")
    await registerVia(miko, "split", { id: "split-1", publicAddress: publicSide.url, internalAddress: internalSide.url })
    await registerVia(miko, "hidden", { id: "hidden-1", internalAddress: internalSide.url })
  })

  it("a token without the internal role never sees internal addresses, even in internal mode", async () => {
    for (const options of [{ token: registrar, addressKind: "internal" as const }, { addressKind: "internal" as const }, {}]) {
      const c = client({ address: miko.url, ...options })
      const endpoints = await c.endpoints("split")
      expect(JSON.stringify(endpoints)).not.toContain("internalAddress")
      expect((await c.pick("split")).address).toBe(publicSide.url)
      expect(await (await c.fetch("http://split/")).json()).toMatchObject({ name: "public-side" })
      await expect(c.pick("hidden")).rejects.toBeInstanceOf(UnknownService)
      expect(await c.services()).not.toContain("hidden")
    }
  })

  it("with the internal role, internal mode uses internal addresses; public mode keeps public ones", async () => {
    const internal = client({ address: miko.url, token: internalReader, addressKind: "internal" })
    expect((await internal.pick("split")).address).toBe(internalSide.url)
    expect(await (await internal.fetch("http://split/")).json()).toMatchObject({ name: "internal-side" })
    expect((await internal.pick("hidden")).address).toBe(internalSide.url)

    const publicMode = client({ address: miko.url, token: internalReader })
    expect((await publicMode.endpoints("split"))[0]).toMatchObject({ internalAddress: internalSide.url })
    expect((await publicMode.pick("split")).address).toBe(publicSide.url)
    await expect(publicMode.pick("hidden")).rejects.toMatchObject({ _tag: "NoHealthyEndpoint", service: "hidden" })
  })
})

describe("bad input", () => {
  it("a malformed Miko address fails at construction with InvalidMikoAddress", async () => {
    for (const address of ["not a url", "ftp://miko:21", "http://", "http://127.0.0.1:99999", ""]) {
      expect(() => createClient({ address }), address).toThrow(InvalidMikoAddress)
    }
    expect(() => createClient({ address: miko.url, strategy: "fastest" as "round-robin" })).toThrowError(/strategy/)
    const failure = await Effect.runPromise(Effect.flip(Effect.provide(MikoClient.ready, MikoClient.layer({ address: "miko:http" }))))
    expect(failure).toBeInstanceOf(InvalidMikoAddress)
  })

  it("an unknown service is UnknownService, naming the service, from pick, endpoints and fetch", async () => {
    const c = client({ address: miko.url })
    for (const attempt of [c.pick("no-such-service"), c.endpoints("no-such-service"), c.fetch("http://no-such-service/x")]) {
      await expect(attempt).rejects.toMatchObject({ _tag: "UnknownService", service: "no-such-service" })
    }
    await expect(c.pick("no-such-service")).rejects.toThrowError(/no-such-service/)
  })

  it("a wrong token is MikoUnauthorized", async () => {
    const c = client({ address: miko.url, token: "wrong-token-0123456789" })
    await expect(c.ready()).rejects.toMatchObject({ _tag: "MikoUnauthorized" })
    await expect(c.pick("split")).rejects.toMatchObject({ _tag: "MikoUnauthorized" })
    await expect(c.register("web", { publicAddress: "http://127.0.0.1:1" })).rejects.toMatchObject({ _tag: "MikoUnauthorized" })
  })

  it("with strict, a service whose endpoints all fail their checks is NoHealthyEndpoint", async () => {
    // A new check starts critical: the endpoint takes no traffic until it passes once.
    await registerVia(miko, "sick", { id: "sick-1", publicAddress: "http://127.0.0.1:9", check: { tcp: "127.0.0.1:9", interval: "1m" } })
    const c = client({ address: miko.url, strict: true })
    await expect(c.pick("sick")).rejects.toMatchObject({ _tag: "NoHealthyEndpoint", service: "sick" })
    await expect(c.fetch("http://sick/")).rejects.toMatchObject({ _tag: "NoHealthyEndpoint" })
    expect((await c.endpoints("sick"))[0]).toMatchObject({ id: "sick-1", status: "critical" })
  })

  it("an unreachable Miko is MikoUnreachable until a list arrives; stale() says so", async () => {
    const c = client({ address: `http://127.0.0.1:${await freePort()}`, backoff: { min: "50ms", max: "200ms" } })
    await expect(c.ready()).rejects.toMatchObject({ _tag: "MikoUnreachable" })
    await expect(c.pick("split")).rejects.toThrowError(/connection refused/)
    expect(c.stale()).toBe(true)
    expect(c.lastUpdated()).toBeUndefined()
  })

  it("a closed client rejects with MikoClientClosed", async () => {
    const c = createClient({ address: miko.url })
    await c.ready()
    await c.close()
    await expect(c.pick("split")).rejects.toMatchObject({ _tag: "MikoClientClosed" })
  })
})

describe("cancellation", () => {
  it("aborting a Promise request cancels it at the backend", async () => {
    const slow = await backend("slow", () => undefined)
    await registerVia(miko, "slow", { id: "slow-1", publicAddress: slow.url })
    const c = client({ address: miko.url })
    await eventually(() => c.pick("slow").then(() => true, () => false))
    const controller = new AbortController()
    const pending = c.fetch("http://slow/wait", { signal: controller.signal })
    await eventually(() => slow.hits() === 1)
    controller.abort()
    await expect(pending).rejects.toMatchObject({ name: "AbortError" })
    await eventually(() => slow.aborted() === 1, 5_000, "the backend request aborted")
  })

  it.live("interrupting an Effect request cancels it at the backend", () =>
    Effect.gen(function*() {
      const slow = yield* Effect.promise(() => backend("slow-effect", () => undefined))
      yield* Effect.promise(() => registerVia(miko, "slow-effect", { id: "slow-effect-1", publicAddress: slow.url }))
      yield* Effect.retry(MikoClient.pick("slow-effect"), Schedule.spaced("20 millis").pipe(Schedule.upTo("2 seconds")))
      const http = yield* MikoClient.httpClient
      const fiber = yield* Effect.fork(http.get("http://slow-effect/wait"))
      yield* Effect.promise(() => eventually(() => slow.hits() === 1))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => eventually(() => slow.aborted() === 1, 5_000, "the backend request aborted"))
    }).pipe(Effect.provide(MikoClient.layer({ address: miko.url }))))

  it.live("closing the client's scope stops its long-poll at once", () =>
    Effect.gen(function*() {
      const started = Date.now()
      yield* Effect.scoped(Effect.flatMap(Layer.build(MikoClient.layer({ address: miko.url, wait: "1m" })), () => Effect.promise(() => sleep(100))))
      expect(Date.now() - started).toBeLessThan(5_000)
    }))
})
