import { createServer } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Json, type Miko, runMiko, startMiko, tempDir } from "../support/miko.js"

const admin = "admin-secret-0123456789"
const registrar = "register-secret-0123456789"

/** A loopback port nothing listens on. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const parse = (stdout: string) => JSON.parse(stdout) as Json

describe("miko endpoints, services, tasks, events and status, against a running service", () => {
  let miko: Miko
  let dir: string
  beforeAll(async () => {
    miko = await startMiko({
      config: {
        auth: {
          tokens: [
            { name: "ops", secret: admin, roles: ["admin"] },
            { name: "registrar", secret: registrar, roles: ["register"], services: ["web"] }
          ]
        }
      }
    })
    dir = tempDir()
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
    cleanup(dir)
  })

  /** Runs from an empty directory, so that without `--token` (token null) the call is anonymous. */
  const cli = (args: ReadonlyArray<string>, token: string | null = admin) =>
    runMiko([...args, "--address", miko.url, ...(token === null ? [] : ["--token", token])], { cwd: dir })

  it("endpoints register prints the endpoint, or its JSON; the same id again updates it", async () => {
    const first = await cli([
      "endpoints", "register", "web", "--public", "https://web.example.com", "--internal", "10.0.0.5:8080",
      "--id", "web-1", "--ttl", "1h", "--tag", "blue", "--tag", "canary", "--zone", "z1", "--weight", "3"
    ])
    expect(first.code).toBe(0)
    expect(first.stdout).toContain("registered web/web-1")
    expect(first.stdout).toMatch(/internal:\s+10\.0\.0\.5:8080/)
    expect(first.stdout).toMatch(/tags:\s+blue, canary/)
    expect(first.stdout).toContain("send a heartbeat within 1h")
    const again = await cli(["endpoints", "register", "web", "--public", "https://web.example.com", "--internal", "10.0.0.5:8080", "--id", "web-1", "--ttl", "1h", "--tag", "blue", "--zone", "z1", "--json"])
    expect(again.code).toBe(0)
    expect(parse(again.stdout)).toMatchObject({ id: "web-1", service: "web", tags: ["blue"], zone: "z1", ttl: "1h", status: "passing" })
    const second = await cli(["endpoints", "register", "web", "--public", "https://web2.example.com", "--id", "web-2", "--json"], registrar)
    expect(second.code).toBe(0)
    expect(parse(second.stdout)).toMatchObject({ id: "web-2", publicAddress: "https://web2.example.com", weight: 1 })
  })

  it("endpoints list: a table, filters, and --json; internal addresses only for tokens that may see them", async () => {
    const all = await cli(["endpoints", "list"])
    expect(all.code).toBe(0)
    const lines = all.stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^SERVICE\s+ID\s+STATUS\s+PUBLIC\s+INTERNAL\s+ZONE\s+WEIGHT\s+TAGS\s+LAST SEEN$/)
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 5))).toEqual([
      ["web", "web-1", "passing", "https://web.example.com", "10.0.0.5:8080"],
      ["web", "web-2", "passing", "https://web2.example.com", "-"]
    ])
    const blue = await cli(["endpoints", "list", "--tag", "blue", "--status", "passing", "--zone", "z1"])
    expect(blue.stdout).toContain("web-1")
    expect(blue.stdout).not.toContain("web-2")
    expect((await cli(["endpoints", "list", "--service", "other"])).stdout.trim()).toBe("no endpoints")
    const json = await cli(["endpoints", "list", "--service", "web", "--json"])
    expect(parse(json.stdout).services.web.map((endpoint) => endpoint["id"])).toEqual(["web-1", "web-2"])
    const anonymous = await cli(["endpoints", "list", "--json"], null)
    expect(anonymous.code).toBe(0)
    expect(parse(anonymous.stdout).services.web[0]).not.toHaveProperty("internalAddress")
  })

  it("services: counts by status, as a table or JSON", async () => {
    const table = await cli(["services"])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^SERVICE\s+ENDPOINTS\s+PASSING\s+WARNING\s+CRITICAL\nweb\s+2\s+2\s+0\s+0$/m)
    const json = parse((await cli(["services", "--json"])).stdout)
    expect(json.services).toEqual([{ name: "web", endpoints: 2, passing: 2, warning: 0, critical: 0 }])
  })

  it("status: totals, the leader for an admin token, and the protection state", async () => {
    const table = await cli(["status"])
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/services:\s+1 \(2 endpoints: 2 passing, 0 warning, 0 critical\)/)
    expect(table.stdout).toMatch(/leader:\s+\S+ \(1 of 1 replicas live\)/)
    expect(table.stdout).toMatch(/protection:\s+off \(/)
    expect(table.stdout).toMatch(/^web\s+2\s+2\s+0\s+0$/m)
    const json = parse((await cli(["status", "--json"])).stdout)
    expect(json).toMatchObject({ address: miko.url, totals: { services: 1, endpoints: 2, passing: 2, warning: 0, critical: 0 } })
    expect(json.cluster).toMatchObject({ replicas: 1, live: 1 })
    expect(typeof json.cluster.leader).toBe("string")
    expect(json.protection).toMatchObject({ active: false })
  })

  it("status without the admin role leaves the leader out rather than failing", async () => {
    const table = await cli(["status"], registrar)
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/leader:\s+unknown \(reading it needs an admin token\)/)
    const json = parse((await cli(["status", "--json"], registrar)).stdout)
    expect(json.cluster).toBeNull()
    expect(json.totals.endpoints).toBe(2)
  })

  it("endpoints deregister, then a second time: not found", async () => {
    const done = await cli(["endpoints", "deregister", "web", "web-2"])
    expect(done.code).toBe(0)
    expect(done.stdout.trim()).toBe("deregistered web/web-2")
    const gone = await cli(["endpoints", "deregister", "web", "web-2", "--json"])
    expect(gone.code).toBe(3)
    expect(gone.stderr).toContain("DELETE /v1/services/web/endpoints/web-2: 404 endpoint_not_found: no endpoint \"web-2\"")
    await cli(["endpoints", "register", "web", "--public", "https://web3.example.com", "--id", "web-3"])
    expect(parse((await cli(["endpoints", "deregister", "web", "web-3", "--json"])).stdout)).toEqual({ service: "web", id: "web-3", deregistered: true })
  })

  describe("tasks and events", () => {
    let id = ""
    beforeAll(async () => {
      const created = await api(`${miko.url}/v1/tasks`, {
        method: "POST",
        token: admin,
        body: { name: "ping", kind: "http", http: { url: `${miko.url}/healthz` }, triggers: [{ every: "1h" }, { event: "deploy" }] }
      })
      id = String(created.body["id"])
    })

    it("tasks list and show", async () => {
      const list = await cli(["tasks", "list"])
      expect(list.code).toBe(0)
      expect(list.stdout).toMatch(/^ID\s+NAME\s+KIND\s+SOURCE\s+STATE\s+RUNNING\s+NEXT RUN\s+TRIGGERS$/m)
      expect(list.stdout).toMatch(new RegExp(`^${id}\\s+ping\\s+http\\s+api\\s+active\\s+0\\s+\\S+ \\S+\\s+every 1h; event deploy$`, "m"))
      expect(parse((await cli(["tasks", "list", "--json"])).stdout)).toMatchObject([{ id, name: "ping", triggers: [{ every: "1h" }, { event: "deploy" }] }])
      const show = await cli(["tasks", "show", id])
      expect(show.stdout).toMatch(/name:\s+ping/)
      expect(show.stdout).toMatch(new RegExp(`request:\\s+GET ${miko.url}/healthz`))
      expect(parse((await cli(["tasks", "show", id, "--json"])).stdout)).toMatchObject({ id, enabled: true, source: "api" })
    })

    it("tasks run, events fire, then tasks history", async () => {
      const run = await cli(["tasks", "run", id])
      expect(run.code).toBe(0)
      expect(run.stdout).toContain("ping: run accepted (manual)")
      const fired = await cli(["events", "fire", "deploy"])
      expect(fired.code).toBe(0)
      expect(fired.stdout.trim()).toBe(`event deploy fired; triggered ${id}`)
      expect(parse((await cli(["events", "fire", "nobody-listens", "--json"])).stdout)).toEqual({ event: "nobody-listens", tasks: [] })
      await expect.poll(async () => (await api(`${miko.url}/v1/tasks/${id}/executions`, { token: admin })).body.filter((e) => String(e["status"]) === "succeeded").length, { timeout: 10_000 }).toBe(2)
      const history = await cli(["tasks", "history", id])
      expect(history.stdout).toMatch(/^STARTED\s+TRIGGER\s+ATTEMPT\s+STATUS\s+TOOK\s+DETAIL$/m)
      expect(history.stdout).toMatch(/\s+event deploy\s+1\s+succeeded\s+\S+\s+HTTP 200$/m)
      expect(history.stdout).toMatch(/\s+manual\s+1\s+succeeded\s+\S+\s+HTTP 200$/m)
      const last = parse((await cli(["tasks", "history", id, "--limit", "1", "--json"])).stdout)
      expect(last).toHaveLength(1)
      expect(last[0]).toMatchObject({ taskId: id, status: "succeeded", attempt: 1 })
      expect(parse((await cli(["tasks", "run", id, "--json"])).stdout)).toMatchObject({ taskId: id, outcome: "accepted" })
    })

    it("tasks pause and resume", async () => {
      const paused = await cli(["tasks", "pause", id])
      expect(paused.code).toBe(0)
      expect(paused.stdout.trim()).toBe(`${id}: paused`)
      expect(parse((await cli(["tasks", "resume", id, "--json"])).stdout)).toMatchObject({ id, enabled: true })
    })
  })

  describe("exit codes", () => {
    it("3 for what does not exist, with the server's message", async () => {
      const { code, stderr } = await cli(["tasks", "show", "no-such-task"])
      expect(code).toBe(3)
      expect(stderr).toContain("GET /v1/tasks/no-such-task: 404 task_not_found: no task with id \"no-such-task\"")
      expect((await cli(["tasks", "history", "no-such-task"])).code).toBe(3)
    })

    it("4 for an unknown token (401) and for a token without the role (403)", async () => {
      const unknown = await cli(["services"], "not-a-known-token-at-all")
      expect(unknown.code).toBe(4)
      expect(unknown.stderr).toContain("401 unauthorized")
      expect(unknown.stderr).toContain("MIKO_TOKEN")
      const forbidden = await cli(["tasks", "list"], registrar)
      expect(forbidden.code).toBe(4)
      expect(forbidden.stderr).toContain("GET /v1/tasks: 403 forbidden: token \"registrar\" lacks the admin role")
      const elsewhere = await cli(["endpoints", "register", "api", "--public", "http://api.example.com"], registrar)
      expect(elsewhere.code).toBe(4)
      const anonymous = await cli(["events", "fire", "deploy"], null)
      expect(anonymous.code).toBe(4)
    })

    it("2 for invalid input, from the command line or from Miko's checks", async () => {
      const neither = await cli(["endpoints", "register", "web"])
      expect(neither.code).toBe(2)
      expect(neither.stderr).toContain("give --public URL, --internal URL, or both")
      expect((await cli(["endpoints", "register", "web", "--public", "not an address"])).code).toBe(2)
      expect((await cli(["endpoints", "list", "--status", "fine"])).code).toBe(2)
      const weight = await cli(["endpoints", "register", "web", "--public", "http://web.example.com", "--weight", "5000"])
      expect(weight.code).toBe(2)
      expect(weight.stderr).toContain("weight")
      const limit = await cli(["tasks", "history", "x", "--limit", "0"])
      expect(limit.code).toBe(2)
      expect(limit.stderr).toContain("limit: Expected a whole number from 1 to 1000")
    })

    it("6 for a conflict: an id that belongs to another service", async () => {
      const { code, stderr } = await cli(["endpoints", "register", "api", "--public", "http://api.example.com", "--id", "web-1"])
      expect(code).toBe(6)
      expect(stderr).toContain("409 endpoint_conflict")
    })

    it("5 when nothing answers at the address", async () => {
      const port = await closedPort()
      const { code, stderr } = await runMiko(["status", "--address", `http://127.0.0.1:${port}`, "--token", admin], { cwd: dir })
      expect(code).toBe(5)
      expect(stderr).toContain(`cannot reach Miko at http://127.0.0.1:${port}: connection refused`)
      expect((await runMiko(["endpoints", "list", "--address", `http://127.0.0.1:${port}`, "--json"], { cwd: dir })).code).toBe(5)
    })
  })
})
