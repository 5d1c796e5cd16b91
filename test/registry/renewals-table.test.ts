import Database from "better-sqlite3"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { api, cleanup, type Json, type Miko, startMiko } from "../support/miko.js"
import { testDriver } from "../support/postgres.js"
import { anyRegistrar, list, register, sleep, tokens } from "./support.js"

const lastSeenOf = async (miko: Miko, id: string) =>
  Date.parse(String(((await list(miko, "?service=pay")).body["services"]["pay"] as ReadonlyArray<Json>).find((e) => String(e["id"]) === id)!["lastSeenAt"]))

/**
 * Lease renewals live in `endpoint_renewals` (migration 0014); versions before it saved them in the
 * `last_seen_at` column of `endpoints`. A directory from such a version keeps its renewals, and an
 * endpoint without a renewal row (one an older replica registered) still has its heartbeats saved.
 */
describe.skipIf(testDriver() === "postgres")("renewals saved before their table existed", () => {
  let miko: Miko | undefined
  afterAll(async () => {
    if (miko !== undefined) {
      await miko.stop("SIGKILL")
      cleanup(miko.dir)
    }
  })

  it("are read back after the upgrade, and a heartbeat of an endpoint without a renewal row is saved", async () => {
    const config = { auth: { tokens } }
    miko = await startMiko({ config })
    expect((await register(miko, "pay", { id: "pay-1", publicAddress: "https://pay-1.example.com", ttl: "1h" })).status).toBe(201)
    expect((await register(miko, "pay", { id: "pay-2", publicAddress: "https://pay-2.example.com", ttl: "1h" })).status).toBe(201)
    expect(await miko.stop("SIGTERM")).toBe(0)
    // The database as the version before 0014 left it, with a renewal of pay-1 in the old column.
    const renewedBefore = Date.now() + 60_000
    const db = new Database(join(miko.dir, "data", "miko.db"))
    db.prepare("UPDATE endpoints SET last_seen_at = ? WHERE id = 'pay-1'").run(renewedBefore)
    db.exec("DROP TABLE endpoint_renewals")
    db.exec("DELETE FROM miko_migrations WHERE name = 'endpoint_renewals'")
    db.close()

    miko = await startMiko({ config, dir: miko.dir })
    expect(await lastSeenOf(miko, "pay-1")).toBe(renewedBefore)
    // pay-2 lost its row, as one registered by an older replica has none.
    const without = new Database(join(miko.dir, "data", "miko.db"))
    without.exec("DELETE FROM endpoint_renewals WHERE id = 'pay-2'")
    without.close()
    expect((await api(`${miko.url}/v1/services/pay/endpoints/pay-2/heartbeat`, { method: "PUT", token: anyRegistrar })).status).toBe(200)
    const heartbeatAt = Date.now()
    // Past the longest time a renewal stays in memory only.
    await sleep(1_300)
    await miko.stop("SIGKILL")
    miko = await startMiko({ config, dir: miko.dir })
    expect(await lastSeenOf(miko, "pay-2")).toBeGreaterThanOrEqual(heartbeatAt - 1_000)
    expect(await lastSeenOf(miko, "pay-1")).toBe(renewedBefore)
  })
})
