import { afterAll, describe, expect, it } from "vitest"
import { api, cleanup, type Json, type Miko, startMiko } from "../support/miko.js"
import { anyRegistrar, list, register, sleep, tokens } from "./support.js"

const heartbeat = (miko: Miko, service: string, id: string) =>
  api(`${miko.url}/v1/services/${service}/endpoints/${id}/heartbeat`, { method: "PUT", token: anyRegistrar })

const endpointOf = async (miko: Miko, service: string, id: string): Promise<Json | undefined> =>
  ((await list(miko, `?service=${service}`)).body["services"][service] ?? []).find((e: Json) => String(e["id"]) === id)

/**
 * What is durable before it is answered: registrations, deregistrations and status changes. Lease
 * renewals reach storage within a second (a tenth of the ttl when that is shorter), so a crash
 * loses at most that much of them.
 */
describe("what a crash keeps", () => {
  let miko: Miko | undefined
  afterAll(async () => {
    if (miko !== undefined) {
      await miko.stop("SIGKILL")
      cleanup(miko.dir)
    }
  })

  it("a registration or deregistration answered before SIGKILL survives it; renewals older than a second do too", async () => {
    const config = { auth: { tokens } }
    miko = await startMiko({ config })
    expect((await register(miko, "pay", { id: "pay-gone", publicAddress: "https://gone.example.com", ttl: "30s" })).status).toBe(201)
    expect((await register(miko, "pay", { id: "pay-1", publicAddress: "https://pay-1.example.com", ttl: "30s" })).status).toBe(201)
    const registeredAt = Date.parse(String((await endpointOf(miko, "pay", "pay-1"))!["registeredAt"]))
    await sleep(300)
    let lastHeartbeat = 0
    for (let n = 0; n < 5; n++) {
      expect((await heartbeat(miko, "pay", "pay-1")).status).toBe(200)
      lastHeartbeat = Date.now()
      await sleep(100)
    }
    // Past the longest time a renewal stays in memory only.
    await sleep(1_300)
    expect((await api(`${miko.url}/v1/services/pay/endpoints/pay-gone`, { method: "DELETE", token: anyRegistrar })).status).toBe(204)
    expect((await register(miko, "pay", { id: "pay-2", publicAddress: "https://pay-2.example.com", ttl: "30s" })).status).toBe(201)
    await miko.stop("SIGKILL")

    miko = await startMiko({ config, dir: miko.dir })
    const ids = ((await list(miko, "?service=pay")).body["services"]["pay"] as ReadonlyArray<Json>).map((e) => String(e["id"])).sort()
    expect(ids).toEqual(["pay-1", "pay-2"])
    const renewed = Date.parse(String((await endpointOf(miko, "pay", "pay-1"))!["lastSeenAt"]))
    expect(renewed).toBeGreaterThan(registeredAt)
    expect(renewed).toBeGreaterThanOrEqual(lastHeartbeat - 1_000)
  })

  it("concurrent registrations share transactions: each answered once durable, a conflicting one refused without disturbing the others", async () => {
    const config = { auth: { tokens } }
    // The Miko of the test before is done with.
    if (miko !== undefined) {
      await miko.stop("SIGKILL")
      cleanup(miko.dir)
    }
    miko = await startMiko({ config })
    expect((await register(miko, "owner", { id: "taken", publicAddress: "https://taken.example.com" })).status).toBe(201)
    const ids = Array.from({ length: 60 }, (_, n) => `batch-${n}`)
    const answers = await Promise.all([
      ...ids.map((id) => register(miko!, "batch", { id, publicAddress: `https://${id}.example.com`, ttl: "30s" })),
      register(miko, "batch", { id: "taken", publicAddress: "https://thief.example.com" })
    ])
    expect(answers.slice(0, ids.length).map((a) => a.status)).toEqual(ids.map(() => 201))
    expect(answers[ids.length]!.status).toBe(409)
    await miko.stop("SIGKILL")

    miko = await startMiko({ config, dir: miko.dir })
    const listed = await list(miko, "?service=batch")
    expect((listed.body["services"]["batch"] as ReadonlyArray<Json>).map((e) => String(e["id"])).sort()).toEqual([...ids].sort())
    expect(String((await endpointOf(miko, "owner", "taken"))!["publicAddress"])).toBe("https://taken.example.com")
  })
})
