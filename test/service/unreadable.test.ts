import Database from "better-sqlite3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"

const admin = "admin-secret-0123456789"
const config = { auth: { tokens: [{ name: "ops", secret: admin, roles: ["admin"] }] } }

const task = (fields: Record<string, unknown>) => ({
  name: "big",
  kind: "http",
  http: { url: "http://127.0.0.1:9/" },
  triggers: [{ every: "1m" }],
  ...fields
})

/** Every read route a restart or a bad record could break. */
const readRoutes = ["/v1/tasks", "/v1/endpoints", "/v1/services", "/v1/config", "/healthz", "/readyz"]

const expectReadsAnswer = async (miko: Miko) => {
  for (const route of readRoutes) {
    expect({ route, status: (await api(`${miko.url}${route}`, { token: admin })).status }).toEqual({ route, status: 200 })
  }
}

describe("durations and instants are bounded so that what is stored reads back", () => {
  let miko: Miko
  beforeAll(async () => {
    miko = await startMiko({ config })
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  it.each([
    ["a delay past any date", { triggers: [{ delay: "999999999999d" }] }, "triggers.0: delay: Expected a duration of at most 3650d"],
    ["an interval past any date", { triggers: [{ every: "99999999d" }] }, "triggers.0: every: Expected a duration of at most 3650d"],
    ["a jitter past any date", { triggers: [{ every: "1m", jitter: "99999999d" }] }, "triggers.0: jitter: Expected a duration of at most 3650d"],
    ["an instant past year 9999", { triggers: [{ at: "+275000-01-01T00:00:00Z" }] }, "triggers.0: at: Expected an instant from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"],
    ["a start before 1970", { triggers: [{ every: "1m", startAt: "1500-01-01T00:00:00Z" }] }, "Expected an instant from 1970"],
    ["a retry wait past any date", { retry: { maxRetries: 1, delay: "99999999d" } }, "retry.delay: Expected a duration of at most 3650d"],
    ["a timeout past any date", { timeout: "99999999d" }, "timeout: Expected a duration of at most 3650d"]
  ])("%s is a 400 naming the field and the range, and nothing is stored", async (_, fields, message) => {
    const created = await api(`${miko.url}/v1/tasks`, { method: "POST", token: admin, body: task(fields) })
    expect(created.status).toBe(400)
    expect(created.body["error"]["code"]).toBe("invalid_request")
    expect(created.body["error"]["message"]).toContain(message)
    const list = await api(`${miko.url}/v1/tasks`, { token: admin })
    expect(list.status).toBe(200)
    expect((list.body as unknown as ReadonlyArray<{ name: string }>).filter((t) => t.name === "big")).toEqual([])
  })

  it("a lease or a check interval past any date is a 400", async () => {
    const lease = await api(`${miko.url}/v1/services/web/endpoints`, {
      method: "POST",
      token: admin,
      body: { publicAddress: "http://127.0.0.1:9", ttl: "99999999d" }
    })
    expect(lease.status).toBe(400)
    expect(lease.body["error"]["message"]).toContain("ttl: Expected a duration of at most 3650d")
    const check = await api(`${miko.url}/v1/services/web/endpoints`, {
      method: "POST",
      token: admin,
      body: { publicAddress: "http://127.0.0.1:9", check: { tcp: "127.0.0.1:9", interval: "99999999d" } }
    })
    expect(check.status).toBe(400)
    expect(check.body["error"]["message"]).toContain("interval: Expected a duration of at most 3650d")
  })

  it("a config duration past any date is a 400", async () => {
    const set = await api(`${miko.url}/v1/config/registry.maxWait`, { method: "PUT", token: admin, body: { value: "99999999d" } })
    expect(set.status).toBe(400)
    expect(set.body["error"]["message"]).toContain("at most 3650d")
  })

  it("a fraction of a millisecond reads back as a whole one", async () => {
    const created = await api(`${miko.url}/v1/tasks`, {
      method: "POST",
      token: admin,
      body: task({ name: "fraction", triggers: [{ every: "1m", jitter: "0.0000001ms" }] })
    })
    expect(created.status).toBe(201)
    expect(created.body["triggers"]).toEqual([{ every: "1m", jitter: "0s" }])
    await expectReadsAnswer(miko)
  })
})

describe("stored records that no longer read back", () => {
  let miko: Miko
  let dir: string
  beforeAll(async () => {
    miko = await startMiko({ config })
    dir = miko.dir
    expect((await api(`${miko.url}/v1/tasks`, { method: "POST", token: admin, body: task({ name: "good" }) })).status).toBe(201)
    expect((await api(`${miko.url}/v1/services/web/endpoints`, {
      method: "POST",
      token: admin,
      body: { id: "web-1", publicAddress: "http://127.0.0.1:9" }
    })).status).toBe(201)
    expect(await miko.stop("SIGTERM")).toBe(0)
    // What an older version or a manual edit could leave behind.
    const db = new Database(join(dir, "data", "miko.db"))
    const now = new Date().toISOString()
    const spec = JSON.stringify(task({ name: "broken", triggers: [{ delay: "999999999999d" }] }))
    db.prepare("INSERT INTO scheduler_tasks (id, name, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").run("t-broken", "broken", spec, now, now)
    db.prepare("INSERT INTO endpoints (id, service, body, updated_at) VALUES (?, ?, ?, ?)").run("web-2", "web", "{\"registration\":", now)
    db.prepare("INSERT INTO endpoints (id, service, body, updated_at) VALUES (?, ?, ?, ?)").run("web-3", "web", JSON.stringify({ registration: {} }), now)
    // An older body, without the fields later versions always write: read with their defaults.
    const older = { registration: { id: "web-4", publicAddress: "http://127.0.0.1:10" }, registeredAt: 1, lastSeenAt: 1, leaseStatus: "passing", checkStatus: null, criticalSince: null }
    db.prepare("INSERT INTO endpoints (id, service, body, updated_at) VALUES (?, ?, ?, ?)").run("web-4", "web", JSON.stringify(older), now)
    db.prepare("INSERT INTO config_overrides (key, value, updated_at) VALUES (?, ?, ?)").run("scheduler.maxRunningTasks", "{not json", now)
    db.close()
    miko = await startMiko({ config, dir })
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(dir)
  })

  it("start-up goes on, and every read route answers", async () => {
    await expectReadsAnswer(miko)
    const tasks = (await api(`${miko.url}/v1/tasks`, { token: admin })).body as unknown as ReadonlyArray<{ name: string }>
    expect(tasks.map((t) => t.name)).toEqual(["good"])
    const endpoints = await api(`${miko.url}/v1/endpoints`, { token: admin })
    expect(Object.values(endpoints.body["services"]).flat().map((e) => (e as unknown as { id: string }).id).sort()).toEqual(["web-1", "web-4"])
    expect(endpoints.body["services"]["web"].find((e) => String(e["id"]) === "web-4")).toMatchObject({ protocol: "http", weight: 1, tags: [], metadata: {}, source: "registered" })
  })

  it("each skipped record is logged by name", () => {
    expect(miko.output()).toMatch(/skipping stored task t-broken \(broken\)/)
    expect(miko.output()).toMatch(/skipping stored endpoint web-2 of service web/)
    expect(miko.output()).toMatch(/skipping stored endpoint web-3 of service web/)
    expect(miko.output()).toMatch(/ignoring stored runtime change to scheduler.maxRunningTasks/)
  })
})
