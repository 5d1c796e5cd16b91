import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { admin, anyRegistrar, list, register } from "../registry/support.js"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { freshDatabase } from "../support/postgres.js"
import { clusterConfig, syncMillis } from "./support.js"

/**
 * A TCP relay between one replica and PostgreSQL that the test can cut and restore: the
 * replica loses its database while the other replicas keep theirs.
 */
const startRelay = async (upstream: URL) => {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const open = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const remote = tcpConnect(Number(upstream.port || 5432), upstream.hostname)
        for (const socket of [client, remote]) {
          sockets.add(socket)
          socket.on("close", () => sockets.delete(socket))
          socket.on("error", () => socket.destroy())
        }
        client.pipe(remote).pipe(client)
      })
      server.listen(port, "127.0.0.1", () => {
        port = (server!.address() as AddressInfo).port
        resolve()
      })
    })
  await open()
  return {
    url: () => {
      const url = new URL(upstream)
      url.hostname = "127.0.0.1"
      url.port = String(port)
      return url.toString()
    },
    cut: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server!.close(() => resolve())
      }),
    restore: open
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const staleMillis = 3_000
let direct: Miko
let relayed: Miko
let relay: Awaited<ReturnType<typeof startRelay>>

beforeAll(async () => {
  const database = await freshDatabase()
  relay = await startRelay(new URL(database))
  const extra = { cluster: { leaseTime: "2s", syncInterval: `${syncMillis}ms`, staleReadLimit: `${staleMillis}ms` } }
  direct = await startMiko({ config: clusterConfig(database, extra) })
  relayed = await startMiko({ config: clusterConfig(relay.url(), extra) })
}, 60_000)

afterAll(async () => {
  await Promise.all([direct.stop("SIGKILL"), relayed.stop("SIGKILL")])
  for (const miko of [direct, relayed]) cleanup(miko.dir)
})

const ready = async (miko: Miko) => (await api(`${miko.url}/readyz`)).status

describe("a replica that loses the database", () => {
  it("turns unready, serves its last known directory for cluster.staleReadLimit, refuses writes, and recovers", async () => {
    await register(direct, "pay", { id: "pay-0", publicAddress: "https://pay-0.example.com" })
    await sleep(500)
    expect(await ready(relayed)).toBe(200)
    const known = (await list(relayed)).body

    await relay.cut()
    const cutAt = Date.now()
    while ((await ready(relayed)) === 200 && Date.now() - cutAt < 10_000) await sleep(100)
    expect(await ready(relayed)).toBe(503)
    expect(await ready(direct)).toBe(200)

    // Reads: the last known state, while it is recent enough.
    const stale = await list(relayed)
    expect(stale.status).toBe(200)
    expect(stale.body["services"]).toEqual(known["services"])
    // Writes need the database: a clear error, not a hang.
    const refused = await register(relayed, "pay", { id: "pay-1", publicAddress: "https://pay-1.example.com" })
    expect(refused.status).toBe(503)
    expect(refused.body).toMatchObject({ error: { code: "storage_error" } })

    // Past the limit, reads are refused rather than served arbitrarily old.
    await sleep(staleMillis + 1_500 - (Date.now() - cutAt))
    const tooOld = await list(relayed)
    expect(tooOld.status).toBe(503)
    expect(JSON.stringify(tooOld.body)).toContain("stale")

    // Meanwhile the directory moves on without it.
    await register(direct, "pay", { id: "pay-2", publicAddress: "https://pay-2.example.com" })
    await api(`${direct.url}/v1/services/pay/endpoints/pay-0`, { method: "DELETE", token: anyRegistrar })

    await relay.restore()
    const restoredAt = Date.now()
    while ((await ready(relayed)) !== 200 && Date.now() - restoredAt < 10_000) await sleep(100)
    expect(await ready(relayed)).toBe(200)
    // Caught up: the same directory as the replica that never lost the database.
    let caughtUp = false
    while (!caughtUp && Date.now() - restoredAt < syncMillis + 3_000) {
      const [mine, theirs] = await Promise.all([list(relayed), list(direct)])
      caughtUp = mine.status === 200 && mine.body["index"] === theirs.body["index"]
      if (!caughtUp) await sleep(100)
    }
    expect(caughtUp).toBe(true)
    const services = JSON.stringify((await list(relayed)).body["services"])
    expect(services).toContain("pay-2")
    expect(services).not.toContain("pay-0")
    expect((await api(`${relayed.url}/v1/cluster`, { token: admin })).status).toBe(200)
  }, 60_000)
})
