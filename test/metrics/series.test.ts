// The series of the directory, WebSocket, scheduler, cluster and process move as a real Miko
// is used; every value is read through prometheus_client's parser.
import { request } from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connect } from "../websocket/client.js"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { eventually, type Scrape, scrape } from "./support.js"

let miko: Miko
// Protection off: one lapsing lease out of one would otherwise hold every lease.
beforeAll(async () => {
  miko = await startMiko({ config: { registry: { protection: { threshold: 0 } } } })
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

const register = (service: string, body: Record<string, unknown>) =>
  api(`${miko.url}/v1/services/${service}/endpoints`, { method: "POST", token: miko.token(), body })

const value = (s: Scrape, name: string, labels: Record<string, string> = {}) => s.value(name, labels) ?? 0

/** Scrapes until `name` with `labels` reads `expected`. */
const until = async (name: string, labels: Record<string, string>, expected: (value: number) => boolean, timeoutMs?: number) =>
  value(await eventually(() => scrape(miko.url), (s) => expected(value(s, name, labels)), timeoutMs), name, labels)

describe("directory series", () => {
  it("a registration moves the endpoints gauge and the registrations counter; a deregistration both back", async () => {
    const before = await scrape(miko.url)
    expect((await register("payments", { id: "payments-1", publicAddress: "https://payments.example.com" })).status).toBe(201)
    expect((await register("payments", { id: "payments-1", publicAddress: "https://payments.example.com", weight: 2 })).status).toBe(200)
    const after = await scrape(miko.url)
    expect(value(after, "miko_registry_endpoints", { service: "payments", status: "passing" })).toBe(1)
    expect(value(after, "miko_registry_endpoints", { service: "payments", status: "critical" })).toBe(0)
    expect(value(after, "miko_registry_registrations_total", { outcome: "created" }) - value(before, "miko_registry_registrations_total", { outcome: "created" })).toBe(1)
    expect(value(after, "miko_registry_registrations_total", { outcome: "updated" }) - value(before, "miko_registry_registrations_total", { outcome: "updated" })).toBe(1)
    expect((await api(`${miko.url}/v1/services/payments/endpoints/payments-1`, { method: "DELETE", token: miko.token() })).status).toBe(204)
    const gone = await scrape(miko.url)
    expect(value(gone, "miko_registry_endpoints", { service: "payments", status: "passing" })).toBe(0)
    expect(value(gone, "miko_registry_deregistrations_total", { reason: "request" }) - value(before, "miko_registry_deregistrations_total", { reason: "request" })).toBe(1)
  })

  it("a lease that runs out is counted and its endpoint shows critical", async () => {
    const before = value(await scrape(miko.url), "miko_registry_lease_expiries_total")
    expect((await register("batch", { id: "batch-1", publicAddress: "https://batch.example.com", ttl: "1s" })).status).toBe(201)
    expect(await until("miko_registry_lease_expiries_total", {}, (v) => v > before, 10_000)).toBe(before + 1)
    expect(await until("miko_registry_endpoints", { service: "batch", status: "critical" }, (v) => v === 1)).toBe(1)
  })

  it("check probes are counted by kind and result", async () => {
    // A TCP check of a port nobody listens on: each probe fails.
    const check = { tcp: "127.0.0.1:1", interval: "1s", timeout: "1s" }
    expect((await register("legacy", { id: "legacy-1", internalAddress: "tcp://127.0.0.1:1", check })).status).toBe(201)
    expect(await until("miko_registry_check_results_total", { kind: "tcp", result: "failure" }, (v) => v >= 2, 10_000)).toBeGreaterThanOrEqual(2)
  })

  it("blocking queries are counted while they wait, on the fast path and on the API", async () => {
    const { index } = (await api(`${miko.url}/v1/endpoints`)).body as unknown as { index: number }
    const before = value(await scrape(miko.url), "miko_registry_blocking_queries")
    const fast = fetch(`${miko.url}/v1/endpoints?index=${index}&wait=3s`)
    // A GET with a Content-Length header is left to the API by the fast path.
    const viaApi = new Promise<number>((resolve, reject) => {
      const req = request(`${miko.url}/v1/endpoints?index=${index}&wait=3s`, { headers: { "content-length": "0" } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.once("error", reject)
      req.end()
    })
    expect(await until("miko_registry_blocking_queries", {}, (v) => v === before + 2)).toBe(before + 2)
    expect((await fast).status).toBe(200)
    expect(await viaApi).toBe(200)
    expect(await until("miko_registry_blocking_queries", {}, (v) => v === before)).toBe(before)
  })
})

describe("WebSocket, scheduler, cluster and process series", () => {
  it("WebSocket connections and subscriptions, by topic", async () => {
    const client = await connect(miko.url, { token: miko.token() })
    await client.command("subscribe", { topic: "endpoints" })
    await client.command("subscribe", { topic: "tasks" })
    expect(await until("miko_websocket_connections", {}, (v) => v === 1)).toBe(1)
    const open = await scrape(miko.url)
    expect(value(open, "miko_websocket_subscriptions", { topic: "endpoints" })).toBe(1)
    expect(value(open, "miko_websocket_subscriptions", { topic: "tasks" })).toBe(1)
    client.ws.close()
    await client.closed
    expect(await until("miko_websocket_connections", {}, (v) => v === 0)).toBe(0)
    const closed = await scrape(miko.url)
    expect(value(closed, "miko_websocket_subscriptions", { topic: "endpoints" })).toBe(0)
    expect(value(closed, "miko_websocket_subscriptions", { topic: "tasks" })).toBe(0)
  })

  it("a task run moves the scheduler's runs counter and duration histogram", async () => {
    const task = { name: "ping", kind: "http", http: { method: "GET", url: `${miko.url}/healthz` }, triggers: [{ event: "tick" }] }
    const created = await api(`${miko.url}/v1/tasks`, { method: "POST", token: miko.token(), body: task })
    expect(created.status).toBe(201)
    expect((await api(`${miko.url}/v1/events/tick`, { method: "POST", token: miko.token() })).status).toBe(202)
    expect(await until("miko_scheduler_runs_total", { status: "succeeded" }, (v) => v >= 1)).toBeGreaterThanOrEqual(1)
    const s = await scrape(miko.url)
    expect(value(s, "miko_scheduler_run_duration_seconds_count")).toBeGreaterThanOrEqual(1)
    expect(s.samples("miko_scheduler_running")).toHaveLength(1)
    expect(s.samples("miko_scheduler_queued")).toHaveLength(1)
  })

  it("a Miko alone leads a cluster of one; the process reports CPU, memory, event-loop delay and GC", async () => {
    const s = await scrape(miko.url)
    expect(value(s, "miko_cluster_leader")).toBe(1)
    expect(value(s, "miko_cluster_replicas")).toBe(1)
    expect(value(s, "miko_process_cpu_seconds_total", { mode: "user" })).toBeGreaterThan(0)
    expect(value(s, "miko_process_resident_memory_bytes")).toBeGreaterThan(10_000_000)
    expect(value(s, "miko_process_heap_used_bytes")).toBeGreaterThan(0)
    expect(value(s, "miko_process_start_time_seconds")).toBeGreaterThan(Date.now() / 1000 - 600)
    for (const name of ["mean", "p99", "max"]) expect(s.samples(`miko_process_event_loop_delay_${name}_seconds`)).toHaveLength(1)
    expect(s.families.find((family) => family.name === "miko_process_gc_duration_seconds")?.type).toBe("histogram")
  })

  it("the heap runs compact on a small directory, fast when general.heap says so, and follows the setting back", async () => {
    const set = (value: string) => api(`${miko.url}/v1/config/general.heap`, { method: "PUT", token: miko.token(), body: { value } })
    expect(await until("miko_process_heap_compact", {}, (v) => v === 1)).toBe(1)
    expect((await set("fast")).status).toBe(200)
    expect(await until("miko_process_heap_compact", {}, (v) => v === 0)).toBe(0)
    expect((await set("auto")).status).toBe(200)
    expect(await until("miko_process_heap_compact", {}, (v) => v === 1)).toBe(1)
  })
})
