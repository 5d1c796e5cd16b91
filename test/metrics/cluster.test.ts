// Two replicas on one PostgreSQL database: each serves its own /metrics; exactly one reports the
// leader lease, both count the same live replicas and show the same directory, and a
// registration is counted on the replica that took it. No replica id (it holds the host name).
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { awaitLeader, clusterStatus, startReplicas } from "../cluster/support.js"
import { admin } from "../registry/support.js"
import { api, cleanup, type Miko } from "../support/miko.js"
import { eventually, type Scrape, scrape } from "./support.js"

let replicas: Array<Miko> = []
beforeAll(async () => {
  replicas = (await startReplicas(2)).replicas
}, 60_000)
afterAll(async () => {
  await Promise.all(replicas.map((miko) => miko.stop("SIGKILL")))
  for (const miko of replicas) cleanup(miko.dir)
})

const value = (s: Scrape, name: string, labels: Record<string, string> = {}) => s.value(name, labels) ?? 0

describe("metrics of a cluster of two", () => {
  it("one leader, two live replicas on each, and no replica id", async () => {
    await awaitLeader(replicas)
    const scrapes = await Promise.all(replicas.map((miko) => eventually(() => scrape(miko.url), (s) => value(s, "miko_cluster_replicas") === 2)))
    expect(scrapes.map((s) => value(s, "miko_cluster_replicas"))).toEqual([2, 2])
    expect(scrapes.reduce((sum, s) => sum + value(s, "miko_cluster_leader"), 0)).toBe(1)
    for (const [i, miko] of replicas.entries()) {
      const id = (await clusterStatus(miko))["replica"] as unknown as string
      expect(scrapes[i]?.text).not.toContain(id)
    }
  })

  it("a registration shows on both replicas' endpoint gauges and is counted where it was taken", async () => {
    const [first, second] = replicas as [Miko, Miko]
    const before = await Promise.all(replicas.map((miko) => scrape(miko.url)))
    const registered = await api(`${first.url}/v1/services/search/endpoints`, { method: "POST", token: admin, body: { publicAddress: "https://search.example.com" } })
    expect(registered.status).toBe(201)
    for (const miko of replicas) {
      const seen = await eventually(() => scrape(miko.url), (s) => value(s, "miko_registry_endpoints", { service: "search", status: "passing" }) === 1)
      expect(value(seen, "miko_registry_endpoints", { service: "search", status: "passing" })).toBe(1)
    }
    const created = { outcome: "created" }
    expect(value(await scrape(first.url), "miko_registry_registrations_total", created) - value(before[0]!, "miko_registry_registrations_total", created)).toBe(1)
    expect(value(await scrape(second.url), "miko_registry_registrations_total", created) - value(before[1]!, "miko_registry_registrations_total", created)).toBe(0)
  })
})
