import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { createClient, MikoClient, type MikoPromiseClient } from "../../sdk/ts/src/index.js"
import { cleanup } from "../support/miko.js"
import { type Backend, eventually, freePort, type Handler, type Miko, registerVia, sleep, startBackend, startSdkMiko } from "./support.js"

let miko: Miko
const backends: Array<Backend> = []
const clients: Array<MikoPromiseClient> = []

const backend = async (name: string, handler?: Handler) => {
  const started = await startBackend(name, handler)
  backends.push(started)
  return started
}
const client = (options: Parameters<typeof createClient>[0] = {}) => {
  const created = createClient({ address: miko.url, ...options })
  clients.push(created)
  return created
}

/** Answers after a short delay, so requests are in flight when a backend stops. */
const answerSoon: Handler = (request, response, name) => {
  setTimeout(() => {
    response.setHeader("content-type", "application/json")
    response.end(JSON.stringify({ name, url: request.url }))
  }, 2)
}

/** Three instances of a service, registered and visible to the client. */
const trio = async (service: string, c: MikoPromiseClient) => {
  const instances = await Promise.all([1, 2, 3].map((n) => backend(`${service}-${n}`, answerSoon)))
  for (const instance of instances) await registerVia(miko, service, { id: instance.name, publicAddress: instance.url })
  await eventually(async () => (await c.endpoints(service).catch(() => [])).length === 3)
  return instances
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

describe("failover while an instance stops mid-run", () => {
  it("Promise fetch: 200 idempotent requests, none fails, and the stopped instance is skipped afterwards", async () => {
    const c = client()
    const [first, stopped, third] = await trio("trio", c)
    let failures = 0
    let sent = 0
    let stopping: Promise<void> | undefined
    const servedAfterStop: Record<string, number> = {}
    // Four callers at once, so requests are in flight on the instance when it stops.
    const worker = async () => {
      while (sent < 200) {
        const n = sent++
        if (n === 60) stopping = stopped!.stop()
        const afterStop = stopping !== undefined
        const response = await c.fetch(`http://trio/item/${n}`, { method: n % 2 === 0 ? "GET" : "PUT", body: n % 2 === 0 ? null : "{}" }).catch(() => undefined)
        if (response === undefined || response.status !== 200) {
          failures++
          continue
        }
        const { name } = (await response.json()) as { name: string }
        if (afterStop) servedAfterStop[name] = (servedAfterStop[name] ?? 0) + 1
      }
    }
    await Promise.all([worker(), worker(), worker(), worker()])
    await stopping
    expect(failures).toBe(0)
    expect(sent).toBeGreaterThanOrEqual(200)
    expect(servedAfterStop[first!.name]).toBeGreaterThan(0)
    expect(servedAfterStop[third!.name]).toBeGreaterThan(0)
    // The breaker remembers: later choices skip the stopped instance.
    for (let i = 0; i < 30; i++) expect((await c.pick("trio")).id).not.toBe(stopped!.name)
  })

  it.live("Effect HttpClient: the same, through MikoClient.http", () =>
    Effect.gen(function*() {
      const c = client()
      const [first, stopped, third] = yield* Effect.promise(() => trio("trio-effect", c))
      const miko2 = yield* MikoClient
      yield* Effect.retry(
        Effect.filterOrFail(miko2.endpoints("trio-effect"), (e) => e.length === 3),
        Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds"))
      )
      const request = (n: number) =>
        Effect.gen(function*() {
          if (n === 60) yield* Effect.forkDaemon(Effect.promise(() => stopped!.stop()))
          const response = yield* miko2.http.get(`http://trio-effect/item/${n}`)
          const body = (yield* response.json) as { name: string }
          return { ok: response.status === 200, name: body.name }
        }).pipe(Effect.orElseSucceed(() => ({ ok: false, name: "" })))
      const results = yield* Effect.forEach(Array.from({ length: 200 }, (_, n) => n), request, { concurrency: 4 })
      expect(results.filter((r) => !r.ok)).toEqual([])
      const late = results.slice(120).map((r) => r.name)
      expect(late).not.toContain(stopped!.name)
      expect(late).toContain(first!.name)
      expect(late).toContain(third!.name)
      for (let i = 0; i < 30; i++) expect((yield* miko2.pick("trio-effect")).id).not.toBe(stopped!.name)
    }).pipe(Effect.provide(MikoClient.layer({ address: miko.url }))))
})

describe("what fails over, and what does not", () => {
  it("502/503/504 answers: GET moves on and the endpoint is marked down; POST gets the answer", async () => {
    const c = client()
    const unavailable = await backend("busy", (_, response) => {
      response.statusCode = 503
      response.end("busy")
    })
    await registerVia(miko, "busy", { id: "busy-1", publicAddress: unavailable.url })
    await eventually(() => c.pick("busy").then(() => true, () => false))
    // One endpoint only: a GET tries it maxAttempts times and then hands the 503 over; a POST tries once.
    const get = await c.fetch("http://busy/")
    expect(get.status).toBe(503)
    expect(unavailable.hits()).toBe(3)
    const post = await c.fetch("http://busy/", { method: "POST", body: "{}" })
    expect(post.status).toBe(503)
    expect(unavailable.hits()).toBe(4)
    // An Idempotency-Key makes a POST safe to send again.
    const keyed = await c.fetch("http://busy/", { method: "POST", body: "{}", headers: { "Idempotency-Key": "order-7" } })
    expect(keyed.status).toBe(503)
    expect(unavailable.hits()).toBe(7)

    const healthy = await backend("busy-ok")
    await registerVia(miko, "busy", { id: "busy-2", publicAddress: healthy.url })
    await eventually(async () => (await c.endpoints("busy")).length === 2)
    for (let i = 0; i < 10; i++) expect((await c.fetch("http://busy/")).status).toBe(200)
    expect(unavailable.hits()).toBeLessThanOrEqual(8)
  })

  it("a refused connection is retried elsewhere even for POST: nothing was sent", async () => {
    const c = client()
    const alive = await backend("refusing-ok")
    // Ids order the list: the dead one comes first, so the first request goes there.
    await registerVia(miko, "refusing", { id: "a-dead", publicAddress: `http://127.0.0.1:${await freePort()}` })
    await registerVia(miko, "refusing", { id: "b-alive", publicAddress: alive.url })
    await eventually(async () => (await c.endpoints("refusing").catch(() => [])).length === 2)
    for (let i = 0; i < 5; i++) {
      const response = await c.fetch("http://refusing/orders", { method: "POST", body: JSON.stringify({ i }) })
      expect(response.status).toBe(200)
    }
    expect(alive.hits()).toBe(5)
  })

  it("an endpoint that does not answer within attemptTimeout is left for the next one", async () => {
    const c = client({ attemptTimeout: "300ms" })
    const hanging = await backend("hang", () => undefined)
    const alive = await backend("hang-ok")
    await registerVia(miko, "hang", { id: "a-hang", publicAddress: hanging.url })
    await registerVia(miko, "hang", { id: "b-ok", publicAddress: alive.url })
    await eventually(async () => (await c.endpoints("hang").catch(() => [])).length === 2)
    for (let i = 0; i < 4; i++) expect(await (await c.fetch("http://hang/")).json()).toMatchObject({ name: "hang-ok" })
    // Tried once, then marked down for the cool-down.
    expect(hanging.hits()).toBe(1)
    // With failover off, the timeout reaches the caller as fetch reports one.
    const single = client({ attemptTimeout: "200ms", maxAttempts: 1, cooldown: 0 })
    await eventually(async () => (await single.endpoints("hang").catch(() => [])).length === 2)
    const outcomes = await Promise.all([single.fetch("http://hang/").then(() => "ok", (e: Error) => e.name), sleep(0).then(() => single.fetch("http://hang/")).then(() => "ok", (e: Error) => e.name)])
    expect(outcomes.sort()).toEqual(["TimeoutError", "ok"])
  })

  it.live("the Effect client aborts an attempt at its deadline, and the backend sees it go", () =>
    Effect.gen(function*() {
      const hanging = yield* Effect.promise(() => backend("stall", () => undefined))
      const alive = yield* Effect.promise(() => backend("stall-ok"))
      yield* Effect.promise(() => registerVia(miko, "stall", { id: "a-stall", publicAddress: hanging.url }))
      yield* Effect.promise(() => registerVia(miko, "stall", { id: "b-stall-ok", publicAddress: alive.url }))
      const miko2 = yield* MikoClient
      yield* Effect.retry(
        Effect.filterOrFail(miko2.endpoints("stall"), (e) => e.length === 2),
        Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds"))
      )
      const response = yield* miko2.http.get("http://stall/")
      expect(yield* response.json).toMatchObject({ name: "stall-ok" })
      expect(hanging.hits()).toBe(1)
      yield* Effect.promise(() => eventually(() => hanging.aborted() === 1, 5_000, "the timed-out attempt aborted"))
    }).pipe(Effect.provide(MikoClient.layer({ address: miko.url, attemptTimeout: "300ms" }))))
})
