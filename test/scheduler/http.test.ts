import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { stringify } from "yaml"
import { api, cleanup, type Json, type Miko, runMiko, startMiko, tempDir } from "../support/miko.js"
import { eventually, startTarget, type Target } from "./target.js"

const admin = "admin-secret-0123456789"
const registrar = "register-secret-0123456789"

let target: Target
let miko: Miko
let config: Record<string, unknown>

beforeAll(async () => {
  target = await startTarget()
  config = {
    general: { shutdownTimeout: "2s" },
    auth: {
      tokens: [
        { name: "ops", secret: admin, roles: ["admin"] },
        { name: "registrar", secret: registrar, roles: ["register"] }
      ]
    },
    scheduler: {
      tasks: [{
        name: "on-deploy",
        kind: "http",
        http: { method: "POST", url: `${target.url}/ok`, headers: { "x-from": "config" }, body: "{\"from\":\"config\"}" },
        triggers: [{ event: "deploy" }]
      }]
    }
  }
  miko = await startMiko({ config })
})

afterAll(async () => {
  await miko.stop("SIGKILL")
  await target.close()
  cleanup(miko.dir)
})

const call = (path: string, options: { method?: string; body?: unknown; token?: string | undefined } = {}) =>
  api(`${miko.url}${path}`, { ...options, token: "token" in options ? options.token : admin } as Parameters<typeof api>[1])

const create = (body: unknown) => call("/v1/tasks", { method: "POST", body })

const executions = (id: string) => call(`/v1/tasks/${encodeURIComponent(id)}/executions`)

const settledExecutions = (id: string, count: number) =>
  eventually(
    () => executions(id),
    ({ body }) => Array.isArray(body) && body.length >= count && (body as unknown as Array<Json>).every((e) => String(e["status"]) !== "running")
  )

const example = (url: string) => ({
  name: "ping",
  kind: "http",
  http: { method: "GET", url },
  triggers: [{ every: "1h" }, { cron: "0 */5 * * * *", timezone: "Europe/Berlin" }, { event: "ping" }, { delay: "10m" }],
  priority: 5,
  retry: { maxRetries: 3, backoff: "exponential", delay: "1s" }
})

describe("tasks over HTTP", () => {
  let id: string

  it("POST /v1/tasks answers 201 with the task and its id", async () => {
    const { status, body } = await create(example(`${target.url}/ok`))
    expect(status).toBe(201)
    id = String(body["id"])
    expect(id).toMatch(/^[0-9a-f-]{36}$/)
    expect(body).toMatchObject({
      name: "ping",
      kind: "http",
      source: "api",
      http: { method: "GET", url: `${target.url}/ok`, headers: {} },
      triggers: example("").triggers,
      priority: 5,
      retry: { maxRetries: 3, backoff: "exponential", delay: "1s" },
      overlap: "skip",
      enabled: true,
      catchUp: false,
      running: 0
    })
    expect(typeof body["nextRunAt"]).toBe("string")
  })

  it("GET /v1/tasks lists it next to the config task; GET /v1/tasks/{id} reads one", async () => {
    const list = await call("/v1/tasks")
    expect(list.status).toBe(200)
    expect((list.body as unknown as Array<Json>).map((task) => [task["id"], task["source"]])).toEqual([
      ["config:on-deploy", "config"],
      [id, "api"]
    ])
    expect((await call(`/v1/tasks/${id}`)).body).toMatchObject({ id, name: "ping" })
    expect((await call("/v1/tasks/config:on-deploy")).body).toMatchObject({ id: "config:on-deploy", source: "config" })
    expect((await call("/v1/tasks/config%3Aon-deploy")).status).toBe(200)
  })

  it("POST /v1/tasks/{id}/run runs it; executions are a JSON array, newest first", async () => {
    const first = await call(`/v1/tasks/${id}/run`, { method: "POST" })
    expect(first).toMatchObject({ status: 202, body: { taskId: id, outcome: "accepted" } })
    await settledExecutions(id, 1)
    await call(`/v1/tasks/${id}/run`, { method: "POST" })
    const { status, body } = await settledExecutions(id, 2)
    expect(status).toBe(200)
    const list = body as unknown as Array<Json>
    expect(list.map((e) => [e["trigger"], e["attempt"], e["status"], e["result"]])).toEqual([
      ["manual", 1, "succeeded", "HTTP 200"],
      ["manual", 1, "succeeded", "HTTP 200"]
    ])
    expect(String(list[0]!["id"]) > String(list[1]!["id"])).toBe(true)
    expect(Object.keys(list[0]!).sort()).toEqual(["attempt", "endedAt", "id", "result", "scheduledAt", "startedAt", "status", "taskId", "trigger"])
    expect((await call(`/v1/tasks/${id}/executions?limit=1`)).body).toHaveLength(1)
  })

  it("an http task sends its method, headers and body; a non-2xx answer fails and is retried", async () => {
    const { body } = await create({
      name: "post-failing",
      kind: "http",
      http: { method: "POST", url: `${target.url}/fail`, headers: { "x-token": "abc" }, body: "{\"a\":1}" },
      triggers: [{ event: "never" }],
      retry: { maxRetries: 2, backoff: "fixed", delay: "100ms" }
    })
    const failing = String(body["id"])
    await call(`/v1/tasks/${failing}/run`, { method: "POST" })
    const history = (await settledExecutions(failing, 3)).body as unknown as Array<Json>
    expect(history.map((e) => `${e["attempt"]} ${e["status"]}`)).toEqual(["3 failed", "2 failed", "1 failed"])
    expect(history[0]!["error"]).toBe(`POST ${target.url}/fail answered 500`)
    const sent = target.received.filter((request) => request.path === "/fail")
    expect(sent).toHaveLength(3)
    expect(sent[0]).toMatchObject({ method: "POST", body: "{\"a\":1}" })
    expect(sent[0]!.headers["x-token"]).toBe("abc")
    expect(sent[0]!.headers["content-type"]).toBe("application/json")
  })

  it("POST /v1/events/{name} fires the tasks waiting for it, config-declared ones too", async () => {
    const { status, body } = await call("/v1/events/deploy", { method: "POST" })
    expect(status).toBe(202)
    expect(body).toEqual({ event: "deploy", tasks: ["config:on-deploy"] })
    const history = (await settledExecutions("config:on-deploy", 1)).body as unknown as Array<Json>
    expect(history[0]).toMatchObject({ trigger: "event deploy", status: "succeeded" })
    const sent = target.received.find((request) => request.headers["x-from"] === "config")
    expect(sent).toMatchObject({ method: "POST", body: "{\"from\":\"config\"}" })
    expect((await call("/v1/events/nobody", { method: "POST" })).body).toEqual({ event: "nobody", tasks: [] })
  })

  it("pause and resume one task, or the whole scheduler", async () => {
    expect((await call(`/v1/tasks/${id}/pause`, { method: "POST" })).body).toMatchObject({ id, enabled: false })
    expect((await call("/v1/events/ping", { method: "POST" })).body).toEqual({ event: "ping", tasks: [] })
    expect((await call(`/v1/tasks/${id}/resume`, { method: "POST" })).body).toMatchObject({ id, enabled: true })
    expect((await call("/v1/scheduler/pause", { method: "POST" })).body).toMatchObject({ paused: true })
    expect((await call("/v1/events/ping", { method: "POST" })).body).toEqual({ event: "ping", tasks: [] })
    expect((await call("/v1/scheduler/resume", { method: "POST" })).body).toMatchObject({ paused: false, maxRunningTasks: 8 })
    expect((await call("/v1/events/ping", { method: "POST" })).body).toEqual({ event: "ping", tasks: [id] })
  })

  it("DELETE /v1/tasks/{id} removes an API task with its history; config tasks stay", async () => {
    const { body } = await create({ ...example(`${target.url}/ok`), name: "short-lived" })
    const doomed = String(body["id"])
    expect((await call(`/v1/tasks/${doomed}`, { method: "DELETE" })).status).toBe(204)
    expect((await call(`/v1/tasks/${doomed}`)).status).toBe(404)
    expect((await executions(doomed)).status).toBe(404)
    const refused = await call("/v1/tasks/config:on-deploy", { method: "DELETE" })
    expect(refused.status).toBe(409)
    expect(refused.body["error"]["code"]).toBe("task_not_removable")
    expect(refused.body["error"]["message"]).toContain("scheduler.tasks")
  })
})

describe("bad input over HTTP: a clear 4xx, nothing registered", () => {
  const base = { name: "bad", kind: "http", http: { url: "http://127.0.0.1:9/" }, triggers: [{ every: "1m" }] }

  it.each([
    ["an invalid cron, naming the field", { triggers: [{ cron: "0 */5 25 * * *" }] }, "triggers.0: cron: field 3 (hour) \"25\""],
    ["a zero interval", { triggers: [{ every: "0s" }] }, "triggers.0: every: Expected a duration greater than zero"],
    ["a negative interval", { triggers: [{ every: "-1s" }] }, "triggers.0: every: Expected a duration such as"],
    ["an unknown trigger type", { triggers: [{ hourly: true }] }, "Expected a trigger with one of every, cron, event, kvChanged, delay, at"],
    ["retries out of range", { retry: { maxRetries: 1000 } }, "retry.maxRetries: Expected a whole number of retries from 0 to 100, found 1000"],
    ["a bad URL", { http: { url: "ftp://example.com/x" } }, "http.url: Expected an http:// or https:// URL"],
    ["no triggers", { triggers: [] }, "triggers: Expected at least one trigger"],
    ["a misspelt field", { priorty: 3 }, "priorty: is unexpected"],
    ["a missing name", { name: undefined }, "name: is missing"],
    ["an unknown time zone", { triggers: [{ cron: "0 3 * * *", timezone: "Moon/Base" }] }, "timezone: unknown time zone \"Moon/Base\""]
  ])("%s: 400", async (_, fields, message) => {
    const { status, body } = await create({ ...base, ...fields })
    expect(status).toBe(400)
    expect(body["error"]["code"]).toBe("invalid_request")
    expect(String(body["error"]["message"])).toContain(message)
  })

  it("malformed JSON: 400 invalid_json", async () => {
    const { status, body } = await create("{\"name\": ")
    expect(status).toBe(400)
    expect(body["error"]["code"]).toBe("invalid_json")
  })

  it("bad parameters: 400; unknown ids: 404", async () => {
    for (const limit of ["0", "abc", "5000"]) {
      const { status, body } = await call(`/v1/tasks/config:on-deploy/executions?limit=${limit}`)
      expect(status, limit).toBe(400)
      expect(String(body["error"]["message"]), limit).toContain("Expected a whole number from 1 to 1000")
    }
    expect((await call("/v1/events/has%20space", { method: "POST" })).status).toBe(400)
    for (const [method, path] of [
      ["GET", "/v1/tasks/nope"],
      ["DELETE", "/v1/tasks/nope"],
      ["POST", "/v1/tasks/nope/run"],
      ["POST", "/v1/tasks/nope/pause"],
      ["POST", "/v1/tasks/nope/resume"],
      ["GET", "/v1/tasks/nope/executions"]
    ] as const) {
      const { status, body } = await call(path, { method })
      expect(status, `${method} ${path}`).toBe(404)
      expect(body["error"]["code"]).toBe("task_not_found")
    }
  })

  it("without a token 401, without the admin role 403, for reads and writes", async () => {
    for (const [method, path] of [["GET", "/v1/tasks"], ["POST", "/v1/tasks"], ["POST", "/v1/events/deploy"], ["GET", "/v1/scheduler"]] as const) {
      const body = method === "POST" && path === "/v1/tasks" ? base : undefined
      expect((await call(path, { method, body, token: undefined })).status, `${method} ${path}`).toBe(401)
      expect((await call(path, { method, body, token: registrar })).status, `${method} ${path}`).toBe(403)
    }
  })

  it("none of the rejected tasks was registered", async () => {
    const names = ((await call("/v1/tasks")).body as unknown as Array<Json>).map((task) => task["name"])
    expect(names).not.toContain("bad")
  })

  it("/openapi.json describes the scheduler routes and the trigger kinds", async () => {
    const { body } = await api(`${miko.url}/openapi.json`)
    expect(Object.keys(body["paths"])).toEqual(expect.arrayContaining([
      "/v1/tasks",
      "/v1/tasks/{id}",
      "/v1/tasks/{id}/run",
      "/v1/tasks/{id}/pause",
      "/v1/tasks/{id}/resume",
      "/v1/tasks/{id}/executions",
      "/v1/events/{name}"
    ]))
    expect(Object.keys(body["components"]["schemas"])).toEqual(expect.arrayContaining(["Task", "Execution", "TaskSpec", "CronTrigger"]))
  })
})

describe("across restarts", () => {
  it("API tasks survive a restart with their id, pause state and history", async () => {
    const { body } = await create({ name: "durable", kind: "http", http: { url: `${target.url}/ok` }, triggers: [{ event: "durable" }] })
    const durable = String(body["id"])
    await call(`/v1/tasks/${durable}/run`, { method: "POST" })
    await settledExecutions(durable, 1)
    await call(`/v1/tasks/${durable}/pause`, { method: "POST" })
    expect(await miko.stop("SIGTERM")).toBe(0)
    miko = await startMiko({ config, dir: miko.dir })
    const again = await call(`/v1/tasks/${durable}`)
    expect(again.body).toMatchObject({ id: durable, name: "durable", enabled: false })
    expect(((await executions(durable)).body as unknown as Array<Json>).map((e) => e["status"])).toEqual(["succeeded"])
  })

  it("an invalid task in config.yaml stops the start with exit code 2, naming the key", async () => {
    const dir = tempDir()
    writeFileSync(join(dir, "config.yaml"), stringify({
      http: { port: 0 },
      scheduler: { tasks: [{ name: "broken", kind: "http", http: { url: "http://a.example/" }, triggers: [{ cron: "0 0 * * 9" }] }] }
    }))
    const { code, stderr } = await runMiko(["serve"], { cwd: dir })
    cleanup(dir)
    expect(code).toBe(2)
    expect(stderr).toContain("scheduler.tasks.0.triggers.0: cron: field 5 (day of week) \"9\"")
  })
})
