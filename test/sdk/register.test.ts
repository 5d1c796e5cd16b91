import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { createClient, MikoClient } from "../../sdk/ts/src/index.js"
import { api, cleanup } from "../support/miko.js"
import { admin, deregisterVia, eventually, internalReader, type Miko, registerVia, registrar, sleep, startSdkMiko } from "./support.js"

let miko: Miko
beforeAll(async () => {
  miko = await startSdkMiko()
})
afterAll(async () => {
  await miko.stop()
  cleanup(miko.dir)
})

/** The endpoint as Miko holds it, or undefined once it is gone. */
const inMiko = async (service: string, id: string) => {
  const { status, body } = await api(`${miko.url}/v1/services/${service}`, { token: admin })
  if (status === 404) return undefined
  return (body["endpoints"] as unknown as ReadonlyArray<{ id: string; status: string; lastSeenAt: string }>).find((e) => e.id === id)
}

describe("self-registration", () => {
  it("heartbeats keep the endpoint passing past its ttl; close() removes it", async () => {
    const c = createClient({ address: miko.url, token: registrar })
    const registration = await c.register("beating", { id: "beating-1", publicAddress: "http://127.0.0.1:8081", tags: ["sdk"] }, "1s")
    expect(registration).toMatchObject({ service: "beating", id: "beating-1" })
    expect(registration.endpoint()).toMatchObject({ status: "passing", ttl: "1s", tags: ["sdk"] })
    // The same lease without heartbeats, for contrast: it turns critical.
    await registerVia(miko, "beating", { id: "silent-1", publicAddress: "http://127.0.0.1:8082", ttl: "1s" })

    const statuses: Array<string | undefined> = []
    const firstSeen = (await inMiko("beating", "beating-1"))!.lastSeenAt
    const until = Date.now() + 2_500
    while (Date.now() < until) {
      statuses.push((await inMiko("beating", "beating-1"))?.status)
      await sleep(100)
    }
    expect(new Set(statuses)).toEqual(new Set(["passing"]))
    expect((await inMiko("beating", "beating-1"))!.lastSeenAt > firstSeen).toBe(true)
    expect((await inMiko("beating", "silent-1"))!.status).toBe("critical")
    // The client's own view follows.
    await eventually(async () => (await c.pick("beating")).id === "beating-1")

    await registration.close()
    expect(await inMiko("beating", "beating-1")).toBeUndefined()
    await c.close()
  })

  it("an endpoint Miko forgot is registered again at the next heartbeat", async () => {
    const c = createClient({ address: miko.url, token: registrar })
    const registration = await c.register("forgotten", { publicAddress: "http://127.0.0.1:8083" }, "600ms")
    expect(registration.id).toMatch(/^forgotten-/)
    expect((await deregisterVia(miko, "forgotten", registration.id)).status).toBe(204)
    expect(await inMiko("forgotten", registration.id)).toBeUndefined()
    await eventually(async () => (await inMiko("forgotten", registration.id))?.status === "passing", 5_000, "the re-registration")
    await c.close()
    // close() also deregistered what was still registered; closing the registration now is a no-op.
    expect(await inMiko("forgotten", registration.id)).toBeUndefined()
    await expect(registration.close()).resolves.toBeUndefined()
  })

  it("refusals are typed: forbidden without the register role, invalid registrations, bad names", async () => {
    const c = createClient({ address: miko.url, token: internalReader })
    await expect(c.register("web", { publicAddress: "http://127.0.0.1:8084" })).rejects.toMatchObject({ _tag: "MikoForbidden" })
    const r = createClient({ address: miko.url, token: registrar })
    await expect(r.register("web", { publicAddress: "not an address" })).rejects.toMatchObject({ _tag: "InvalidRegistration", service: "web" })
    await expect(r.register("Not_A_Name", { publicAddress: "http://127.0.0.1:8084" })).rejects.toMatchObject({ _tag: "InvalidRegistration" })
    await expect(r.register("web", { publicAddress: "http://127.0.0.1:8084" }, "0s")).rejects.toMatchObject({ _tag: "InvalidRegistration" })
    await Promise.all([c.close(), r.close()])
  })

  it.live("Effect: register is a scoped resource; closing the scope deregisters", () =>
    Effect.gen(function*() {
      const registration = yield* Effect.scoped(
        Effect.gen(function*() {
          const registered = yield* MikoClient.register("scoped", { id: "scoped-1", publicAddress: "http://127.0.0.1:8085" }, "1s")
          const held = yield* Effect.promise(() => inMiko("scoped", "scoped-1"))
          expect(held?.status).toBe("passing")
          expect(yield* registered.endpoint).toMatchObject({ id: "scoped-1", service: "scoped" })
          return registered
        })
      )
      expect(registration.id).toBe("scoped-1")
      expect(yield* Effect.promise(() => inMiko("scoped", "scoped-1"))).toBeUndefined()
    }).pipe(Effect.provide(MikoClient.layer({ address: miko.url, token: registrar }))))

  it.live("Effect: interrupting the fiber that holds the registration deregisters it", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        Effect.scoped(Effect.zipRight(MikoClient.register("held", { id: "held-1", publicAddress: "http://127.0.0.1:8086" }, "1s"), Effect.never))
      )
      yield* Effect.promise(() => eventually(async () => (await inMiko("held", "held-1"))?.status === "passing"))
      yield* Fiber.interrupt(fiber)
      expect(yield* Effect.promise(() => inMiko("held", "held-1"))).toBeUndefined()
    }).pipe(Effect.provide(Layer.fresh(MikoClient.layer({ address: miko.url, token: registrar })))))
})
