import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { createClient, MikoClient, type MikoPromiseClient } from "../../sdk/ts/src/index.js"
import { api, cleanup } from "../support/miko.js"
import { admin, type Backend, eventually, freePort, type Miko, registerVia, startBackend, startSdkMiko } from "./support.js"

let miko: Miko
const backends: Array<Backend> = []
const clients: Array<MikoPromiseClient> = []
/** A loopback port nothing listens on: a TCP check against it always fails. */
let closedPort: number

const backend = async (name: string) => {
  const started = await startBackend(name)
  backends.push(started)
  return started
}
const client = (options: Parameters<typeof createClient>[0] = {}) => {
  const created = createClient({ address: miko.url, ...options })
  clients.push(created)
  return created
}

/**
 * Registers a real backend whose active check fails: a new check starts critical and never
 * passes, so Miko lists the endpoint as critical although the backend answers requests.
 */
const registerFailing = (service: string, instance: Backend) =>
  registerVia(miko, service, { id: instance.name, publicAddress: instance.url, check: { tcp: `127.0.0.1:${closedPort}`, interval: "1m" } })

/** Waits until the client's list holds `count` endpoints of the service. */
const listed = (c: MikoPromiseClient, service: string, count: number) =>
  eventually(async () => (await c.endpoints(service).catch(() => [])).length === count, 10_000, `${count} endpoints of ${service} listed`)

beforeAll(async () => {
  miko = await startSdkMiko()
  closedPort = await freePort()
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()))
  await Promise.all(backends.map((b) => b.stop()))
  await miko.stop()
  cleanup(miko.dir)
})

describe("panic mode: a service with no passing endpoint", () => {
  it("is served from its critical endpoints, and panicServices() names it", async () => {
    const instances = [await backend("fleet-1"), await backend("fleet-2")]
    for (const instance of instances) await registerFailing("fleet", instance)
    const c = client()
    await listed(c, "fleet", 2)
    expect((await c.endpoints("fleet")).map((e) => e.status)).toEqual(["critical", "critical"])

    const picked = await c.pick("fleet")
    expect(["fleet-1", "fleet-2"]).toContain(picked.id)
    expect(picked).toMatchObject({ status: "critical", address: instances.find((i) => i.name === picked.id)!.url })
    const served = new Set<string>()
    for (let i = 0; i < 6; i++) {
      const response = await c.fetch("http://fleet/orders")
      expect(response.status).toBe(200)
      served.add(((await response.json()) as { name: string }).name)
    }
    // Round-robin still spreads the requests over the critical endpoints.
    expect([...served].sort()).toEqual(["fleet-1", "fleet-2"])
    expect(c.panicServices()).toContain("fleet")
  })

  it("with strict, fails with NoHealthyEndpoint as before, and reports no panic", async () => {
    const sick = await backend("sick-1")
    await registerFailing("sick", sick)
    const c = client({ strict: true })
    await listed(c, "sick", 1)
    await expect(c.pick("sick")).rejects.toMatchObject({ _tag: "NoHealthyEndpoint", service: "sick" })
    await expect(c.pick("sick")).rejects.toThrowError(/no healthy endpoint: its 1 endpoints are critical/)
    await expect(c.fetch("http://sick/")).rejects.toMatchObject({ _tag: "NoHealthyEndpoint" })
    expect(sick.hits()).toBe(0)
    expect(c.panicServices()).toEqual([])
  })

  it("with passing and critical endpoints, only passing ones are chosen, and there is no panic", async () => {
    const healthy = await backend("mixed-ok")
    const failing = await backend("mixed-down")
    await registerVia(miko, "mixed", { id: healthy.name, publicAddress: healthy.url })
    await registerFailing("mixed", failing)
    const c = client()
    await listed(c, "mixed", 2)
    for (let i = 0; i < 6; i++) expect((await c.pick("mixed")).id).toBe("mixed-ok")
    for (let i = 0; i < 6; i++) expect((await c.fetch("http://mixed/")).status).toBe(200)
    expect(failing.hits()).toBe(0)
    expect(c.panicServices()).not.toContain("mixed")
  })

  it("begins when the last lease lapses and ends when the endpoint passes again", async () => {
    const leased = await backend("leased-1")
    const registered = await registerVia(miko, "leased", { id: leased.name, publicAddress: leased.url, ttl: "1s" })
    expect(registered.status).toBe(201)
    const c = client()
    await listed(c, "leased", 1)
    expect(c.panicServices()).not.toContain("leased")
    // No heartbeat: the lease lapses, Miko marks the endpoint critical, and the client keeps using it.
    await eventually(() => c.panicServices().includes("leased"), 10_000, "the service in panic mode")
    expect((await c.endpoints("leased"))[0]!.status).toBe("critical")
    expect(await (await c.fetch("http://leased/")).json()).toMatchObject({ name: "leased-1" })
    const beat = await api(`${miko.url}/v1/services/leased/endpoints/${leased.name}/heartbeat`, { method: "PUT", token: admin })
    expect(beat.status).toBe(200)
    await eventually(() => !c.panicServices().includes("leased"), 10_000, "panic mode over")
    expect((await c.pick("leased")).status).toBe("passing")
  })

  it.live("the Effect client picks the same way and reports panic through MikoClient.panicServices", () =>
    Effect.gen(function*() {
      const instance = yield* Effect.promise(() => backend("effect-panic-1"))
      yield* Effect.promise(() => registerFailing("effect-panic", instance))
      // The client started before the registration: retried until its list holds the service.
      const picked = yield* Effect.retry(MikoClient.pick("effect-panic"), Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds")))
      expect(picked).toMatchObject({ id: "effect-panic-1", status: "critical", address: instance.url })
      expect(yield* MikoClient.panicServices).toContain("effect-panic")
    }).pipe(Effect.provide(MikoClient.layer({ address: miko.url }))))
})
