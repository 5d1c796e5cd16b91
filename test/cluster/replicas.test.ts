import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { admin, anyRegistrar, list, register } from "../registry/support.js"
import { startTarget, type Target } from "../scheduler/target.js"
import { api, cleanup, type Json, type Miko } from "../support/miko.js"
import { connect } from "../websocket/client.js"
import { awaitLeader, clusterStatus, leaseMillis, startReplicas, syncMillis } from "./support.js"

/**
 * Three Miko processes on loopback ports and one PostgreSQL database: what one replica is
 * told, the others serve; cluster-wide work runs on one of them, and moves when it dies.
 */

let replicas: Array<Miko> = []
let database: string
let target: Target

beforeAll(async () => {
  target = await startTarget()
  const started = await startReplicas(3)
  replicas = started.replicas
  database = started.url
}, 60_000)

afterAll(async () => {
  await Promise.all(replicas.map((miko) => miko.stop("SIGKILL")))
  await target.close()
  for (const miko of replicas) cleanup(miko.dir)
})

const [a, b, c] = [0, 1, 2].map((i) => () => replicas[i]!)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("three replicas on one PostgreSQL database", () => {
  it("know each other, and exactly one leads", async () => {
    const { id } = await awaitLeader(replicas)
    const statuses = await Promise.all(replicas.map(clusterStatus))
    expect(new Set(statuses.map((s) => s["replica"] as unknown as string)).size).toBe(3)
    for (const status of statuses) {
      expect(status["leader"]).toBe(id)
      const listed = status["replicas"] as unknown as Array<Json>
      expect(listed).toHaveLength(3)
      expect(listed.filter((r) => r["leader"] as unknown as boolean)).toHaveLength(1)
      expect(listed.every((r) => r["live"] as unknown as boolean)).toBe(true)
    }
  })

  it("a registration on A wakes a blocked long-poll on C and a WebSocket watcher on B within 1 s", async () => {
    const before = Number((await list(c())).body["index"])
    const watcher = await connect(b().url, { token: admin })
    const { data } = await watcher.command("subscribe", { topic: "endpoints" })
    const subscription = String(data!["subscription"])
    await watcher.next((m) => m.subscription === subscription)

    const poll = list(c(), `?index=${before}&wait=20s`).then((response) => ({ response, at: Date.now() }))
    const pushed = watcher.next((m) => m.subscription === subscription && String(m.data?.["endpointId"]) === "orders-a", 5_000)
      .then((message) => ({ message, at: Date.now() }))
    await sleep(200)
    const registeredAt = Date.now()
    expect((await register(a(), "orders", { id: "orders-a", publicAddress: "https://orders-a.example.com" })).status).toBe(201)

    const { response, at } = await poll
    expect(response.status).toBe(200)
    expect(at - registeredAt).toBeLessThan(1_000)
    expect(Number(response.body["index"])).toBeGreaterThan(before)
    expect(JSON.stringify(response.body["services"])).toContain("orders-a")
    const event = await pushed
    expect(event.at - registeredAt).toBeLessThan(1_000)
    expect(event.message.data).toMatchObject({ type: "registered", service: "orders" })
    watcher.ws.close()
  })

  it("every replica answers the same directory at the same index", async () => {
    await register(b(), "orders", { id: "orders-b", publicAddress: "https://orders-b.example.com" })
    await api(`${c().url}/v1/services/orders/endpoints/orders-a`, { method: "DELETE", token: anyRegistrar })
    await sleep(1_200)
    const answers = await Promise.all(replicas.map((miko) => list(miko)))
    const indexes = answers.map((r) => r.body["index"])
    expect(new Set(indexes).size).toBe(1)
    for (const answer of answers) expect(answer.body["services"]).toEqual(answers[0]!.body["services"])
    expect(JSON.stringify(answers[0]!.body["services"])).toContain("orders-b")
    expect(JSON.stringify(answers[0]!.body["services"])).not.toContain("orders-a")
  })

  it("with the notification connections cut, the periodic index check still delivers, and notifications resume", async () => {
    const admin = new pg.Client({ connectionString: database })
    await admin.connect()
    const cut = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'miko-listen' AND datname = current_database()")
    await admin.end()
    expect(cut.rowCount).toBe(3)

    const waitOn = async (miko: Miko) => {
      const before = Number((await list(miko)).body["index"])
      return list(miko, `?index=${before}&wait=20s`).then(() => Date.now())
    }
    const missed = waitOn(c())
    await sleep(100)
    const first = Date.now()
    await register(a(), "lost-notice", { id: "lost-notice-0", publicAddress: "https://lost.example.com" })
    expect((await missed) - first).toBeLessThan(syncMillis + 1_000)

    // Listeners reconnect within a second or so; then changes travel by notification again.
    await sleep(2_000)
    const heard = waitOn(c())
    await sleep(100)
    const second = Date.now()
    await register(a(), "lost-notice", { id: "lost-notice-1", publicAddress: "https://lost.example.com" })
    expect((await heard) - second).toBeLessThan(1_000)
  }, 20_000)

  it("never shows the database URL", async () => {
    const entry = await api(`${a().url}/v1/config/storage.postgres.url`, { token: admin })
    expect(entry.body).toMatchObject({ value: "<redacted>", source: "file" })
    expect(JSON.stringify((await api(`${a().url}/v1/config`, { token: admin })).body)).not.toContain(database)
  })

  it("a runtime config change on one replica applies on the others", async () => {
    const set = await api(`${a().url}/v1/config/registry.maxWait`, { method: "PUT", token: admin, body: { value: "42s" } })
    expect(set.status).toBe(200)
    await sleep(1_200)
    for (const miko of [b(), c()]) {
      expect((await api(`${miko.url}/v1/config/registry.maxWait`, { token: admin })).body).toMatchObject({ value: "42s", source: "runtime" })
    }
  })

  it("a task created on one replica is listed by all, and its runs happen once", async () => {
    const created = await api(`${b().url}/v1/tasks`, {
      method: "POST",
      token: admin,
      body: { name: "listed", kind: "http", http: { url: `${target.url}/listed` }, triggers: [{ delay: "1500ms" }] }
    })
    expect(created.status).toBe(201)
    const id = String(created.body["id"])
    await sleep(1_100)
    for (const miko of replicas) expect((await api(`${miko.url}/v1/tasks/${id}`, { token: admin })).status).toBe(200)
    await sleep(2_500)
    expect(target.received.filter((r) => r.path === "/listed")).toHaveLength(1)
    // A spent one-time task is gone everywhere; its history stays readable.
    for (const miko of replicas) expect((await api(`${miko.url}/v1/tasks/${id}`, { token: admin })).status).toBe(404)
    const runs = (await api(`${a().url}/v1/tasks/${id}/executions`, { token: admin })).body as unknown as Array<Json>
    expect(runs.map((run) => run["status"])).toEqual(["succeeded"])
  })

  it("when the leader is killed, another takes over health checks within the lease time; one-time tasks run once, periodic ones are neither doubled nor skipped twice", async () => {
    const { leader } = await awaitLeader(replicas)
    const survivors = replicas.filter((miko) => miko !== leader)
    const registrar = survivors[0]!

    // An endpoint whose active check the leader runs, every 200 ms.
    await register(registrar, "checked", { id: "checked-0", publicAddress: "https://checked.example.com", check: { http: `${target.url}/health`, interval: "200ms" } })
    await sleep(800)
    expect(target.received.some((r) => r.path === "/health")).toBe(true)

    // A periodic task (catching up a slot missed during the takeover), and one-time tasks due
    // before the kill, during the takeover and after it.
    const every = 2_500
    const periodic = await api(`${registrar.url}/v1/tasks`, {
      method: "POST",
      token: admin,
      body: { name: "tick", kind: "http", http: { url: `${target.url}/tick` }, triggers: [{ every: `${every}ms` }], catchUp: true }
    })
    expect(periodic.status).toBe(201)
    const once = async (name: string, inMillis: number) => {
      const response = await api(`${registrar.url}/v1/tasks`, {
        method: "POST",
        token: admin,
        body: { name, kind: "http", http: { url: `${target.url}/${name}` }, triggers: [{ at: new Date(Date.now() + inMillis).toISOString() }] }
      })
      expect(response.status).toBe(201)
      return String(response.body["id"])
    }
    await once("once-before", 1_500)
    await sleep(2_000 + 3 * every)
    await once("once-during", 700)

    // Endpoints tied to connections: one on the leader (it dies with it), one on a survivor (it stays).
    const onLeader = await connect(leader.url, { token: anyRegistrar })
    await onLeader.command("endpoints.register", { service: "worker", endpoint: { id: "worker-dies", publicAddress: "https://w1.example.com" }, ephemeral: true })
    const onSurvivor = await connect(registrar.url, { token: anyRegistrar })
    await onSurvivor.command("endpoints.register", { service: "worker", endpoint: { id: "worker-stays", publicAddress: "https://w2.example.com" }, ephemeral: true })

    const killedAt = Date.now()
    await leader.stop("SIGKILL")
    const probesBefore = target.received.filter((r) => r.path === "/health").length

    const { leader: next } = await awaitLeader(survivors, 3 * leaseMillis)
    const tookOverAfter = Date.now() - killedAt
    expect(survivors).toContain(next)
    expect(tookOverAfter).toBeLessThan(leaseMillis + 500)

    // Health checks resume from the new leader.
    const resumed = Date.now()
    while (target.received.filter((r) => r.path === "/health").length === probesBefore && Date.now() - resumed < 5_000) await sleep(20)
    const firstProbeAfter = Date.now() - killedAt
    expect(firstProbeAfter).toBeLessThan(leaseMillis + 500)

    await once("once-after", 1_000)
    await sleep(3 * every)

    // The dead replica is listed as no longer live.
    const gone = ((await clusterStatus(next))["replicas"] as unknown as Array<Json>).filter((r) => !(r["live"] as unknown as boolean))
    expect(gone).toHaveLength(1)

    // The dead replica's connection is gone, and so is its endpoint; the survivor's stays.
    const workers = JSON.stringify((await list(registrar, "?service=worker")).body["services"])
    expect(workers).not.toContain("worker-dies")
    expect(workers).toContain("worker-stays")
    onSurvivor.ws.close()

    for (const name of ["once-before", "once-during", "once-after"]) {
      expect(target.received.filter((r) => r.path === `/${name}`), name).toHaveLength(1)
    }
    const runs = ((await api(`${next.url}/v1/tasks/${String(periodic.body["id"])}/executions?limit=100`, { token: admin })).body as unknown as Array<Json>)
      .map((run) => ({ slot: Date.parse(String(run["scheduledAt"])), status: String(run["status"]) }))
      .sort((x, y) => x.slot - y.slot)
    const slots = runs.map((run) => run.slot)
    // Never doubled: one run per slot, and one request per run.
    expect(new Set(slots).size).toBe(slots.length)
    expect(target.received.filter((r) => r.path === "/tick").length).toBe(runs.length)
    // Never skipped twice in a row: consecutive runs are at most two slots apart.
    for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBeLessThanOrEqual(2 * every)
    // Runs went on both before and after the takeover.
    expect(slots.some((slot) => slot < killedAt)).toBe(true)
    expect(slots.some((slot) => slot > killedAt + leaseMillis)).toBe(true)
  }, 60_000)
})
