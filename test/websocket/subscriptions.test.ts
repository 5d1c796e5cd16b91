import { afterEach, describe, expect, it } from "vitest"
import { api, cleanup, type Json, type Miko, startMiko } from "../support/miko.js"
import { admin, anyRegistrar, internalReader, list, register, sleep, tokens } from "../registry/support.js"
import { type Client, connect } from "./client.js"

const mikos: Array<Miko> = []
const clients: Array<Client> = []
const start = async (config: Record<string, unknown> = {}) => {
  const miko = await startMiko({ config: { auth: { tokens }, ...config } })
  mikos.push(miko)
  return miko
}
const open = async (miko: Miko, token: string) => {
  const client = await connect(miko.url, { token })
  clients.push(client)
  return client
}
afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate()
  for (const miko of mikos.splice(0)) {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  }
})

const indexes = (events: ReadonlyArray<Json>) => events.map((e) => Number(e["index"]))

describe("subscriptions", () => {
  it("endpoints: the current state with its index, then every change in order, no gap, no duplicate", async () => {
    const miko = await start()
    await register(miko, "web", { id: "web-0", publicAddress: "https://web-0.example.com" })
    const client = await open(miko, internalReader)
    const { data } = await client.command("subscribe", { topic: "endpoints" })
    const subscription = data!["subscription"] as unknown as string
    const snapshot = await client.next((m) => m.subscription === subscription)
    expect(snapshot.data).toMatchObject({ type: "snapshot", services: { web: [{ id: "web-0" }] } })
    const first = Number(snapshot.data!["index"])
    for (let i = 1; i <= 20; i++) await register(miko, "web", { id: `web-${i}`, publicAddress: `https://web-${i}.example.com` })
    await api(`${miko.url}/v1/services/web/endpoints/web-3`, { method: "DELETE", token: anyRegistrar })
    await client.next((m) => m.subscription === subscription && String(m.data?.["type"]) === "deregistered")
    const changes = client.events(subscription).slice(1)
    expect(changes).toHaveLength(21)
    expect(indexes(changes)).toEqual(Array.from({ length: 21 }, (_, i) => first + 1 + i))
    expect(changes[0]).toMatchObject({ type: "registered", service: "web", endpointId: "web-1", endpoint: { publicAddress: "https://web-1.example.com" } })
    expect(changes[20]).toMatchObject({ type: "deregistered", endpointId: "web-3" })
  })

  it("filters apply, and internal addresses stay hidden without the role", async () => {
    const miko = await start()
    const registrar = await open(miko, anyRegistrar)
    const { data } = await registrar.command("subscribe", { topic: "endpoints", filter: { service: "db" } })
    const subscription = data!["subscription"] as unknown as string
    await register(miko, "web", { id: "web-1", publicAddress: "https://web.example.com" })
    await register(miko, "db", { id: "db-internal", internalAddress: "db.internal:5432" })
    await register(miko, "db", { id: "db-public", publicAddress: "db.example.com:5432", internalAddress: "db.internal:5433" })
    await registrar.next((m) => m.subscription === subscription && String(m.data?.["endpointId"]) === "db-public")
    const events = registrar.events(subscription)
    expect(events.map((e) => String(e["endpointId"] ?? e["type"]))).toEqual(["snapshot", "db-public"])
    expect(JSON.stringify(events)).not.toContain("db.internal")
  })

  it("a client resumes from an index after a reconnect: only the changes it missed", async () => {
    const miko = await start()
    const first = await open(miko, internalReader)
    const { data } = await first.command("subscribe", { topic: "endpoints" })
    const snapshot = await first.next((m) => m.subscription === String(data!["subscription"]))
    const seen = snapshot.data!["index"] as unknown as number
    first.ws.close()
    await first.closed
    await register(miko, "web", { id: "web-a", publicAddress: "https://a.example.com" })
    await register(miko, "web", { id: "web-b", publicAddress: "https://b.example.com" })
    const second = await open(miko, internalReader)
    const resumed = await second.command("subscribe", { topic: "endpoints", index: seen })
    const subscription = resumed.data!["subscription"] as unknown as string
    await second.next((m) => m.subscription === subscription && String(m.data?.["endpointId"]) === "web-b")
    const events = second.events(subscription)
    expect(events.map((e) => e["type"])).toEqual(["registered", "registered"])
    expect(indexes(events)).toEqual([seen + 1, seen + 2])
  })

  it("config changes reach a config subscription (admin only)", async () => {
    const miko = await start()
    const reader = await open(miko, internalReader)
    expect(await reader.command("subscribe", { topic: "config" })).toMatchObject({ ok: false, error: { code: "forbidden" } })
    const ops = await open(miko, admin)
    const { data } = await ops.command("subscribe", { topic: "config" })
    const subscription = data!["subscription"] as unknown as string
    await ops.next((m) => m.subscription === subscription)
    await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { method: "PUT", token: admin, body: { value: 3 } })
    const change = await ops.next((m) => m.subscription === subscription && Number(m.data?.["config"]?.["scheduler"]?.["maxRunningTasks"]) === 3)
    expect(JSON.stringify(change)).not.toContain(admin)
  })
})

describe("ephemeral endpoints", () => {
  it("are removed when their connection closes", async () => {
    const miko = await start()
    const client = await open(miko, anyRegistrar)
    await client.command("endpoints.register", { service: "worker", endpoint: { id: "worker-1", publicAddress: "https://w.example.com" }, ephemeral: true })
    await client.command("endpoints.register", { service: "worker", endpoint: { id: "worker-2", publicAddress: "https://w2.example.com" } })
    expect((await list(miko, "?service=worker")).body["services"]["worker"]).toHaveLength(2)
    client.ws.close()
    await client.closed
    await sleep(200)
    expect((await list(miko, "?service=worker")).body["services"]["worker"].map((e: Json) => String(e["id"]))).toEqual(["worker-2"])
  })

  it("are removed when their connection stops answering pings", async () => {
    const miko = await start({ websocket: { pingInterval: "200ms", pongTimeout: "200ms" } })
    const client = await open(miko, anyRegistrar)
    await client.command("endpoints.register", { service: "worker", endpoint: { id: "worker-1", publicAddress: "https://w.example.com" }, ephemeral: true })
    // Stop answering pings: the client's automatic pong goes through the socket we pause.
    ;(client.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
    client.ws.pong = () => undefined
    await sleep(1_500)
    expect((await list(miko, "?service=worker")).body["services"]).toEqual({})
  })
})

describe("limits and shutdown", () => {
  it("a consumer that falls behind past websocket.outgoingQueue is closed with 1008, others are not slowed", async () => {
    const miko = await start({ websocket: { outgoingQueue: 5 } })
    const slow = await open(miko, internalReader)
    const fast = await open(miko, internalReader)
    await slow.command("subscribe", { topic: "endpoints" })
    const fastSub = (await fast.command("subscribe", { topic: "endpoints" })).data!["subscription"] as unknown as string
    ;(slow.ws as unknown as { _socket: { pause: () => void } })._socket.pause()
    // Big events fill the slow reader's socket buffers, then its queue.
    const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, "v".repeat(1000)]))
    for (let i = 0; i < 150; i++) await register(miko, "bulk", { id: `bulk-${i}`, publicAddress: "https://bulk.example.com", metadata })
    await fast.next((m) => m.subscription === fastSub && String(m.data?.["endpointId"]) === "bulk-149", 20_000)
    ;(slow.ws as unknown as { _socket: { resume: () => void } })._socket.resume()
    const closed = await slow.closed
    expect(closed.code).toBe(1008)
    expect(closed.reason).toContain("slow consumer")
    expect(fast.ws.readyState).toBe(1)
  })

  it("websocket.maxConnections refuses the next upgrade with 503", async () => {
    const miko = await start({ websocket: { maxConnections: 2 } })
    await open(miko, admin)
    await open(miko, admin)
    await expect(connect(miko.url, { token: admin })).rejects.toThrow("503")
  })

  it("a controlled shutdown closes every socket with 1001 after flushing", async () => {
    const miko = await start()
    const a = await open(miko, internalReader)
    const b = await open(miko, admin)
    await a.command("subscribe", { topic: "endpoints" })
    const stopped = miko.stop()
    expect((await a.closed).code).toBe(1001)
    expect((await b.closed).code).toBe(1001)
    expect(await stopped).toBe(0)
  })
})
