import { afterEach, describe, expect, it } from "vitest"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { api, cleanup, type Json, type Miko, startMiko } from "../support/miko.js"
import { admin, anyRegistrar, eventually, list, register, sleep, tokens } from "./support.js"

const running: Array<Miko> = []
const servers: Array<Server> = []
const start = async (config: Record<string, unknown> = {}, dir?: string) => {
  const miko = await startMiko({ config: { auth: { tokens }, ...config }, ...(dir === undefined ? {} : { dir }) })
  running.push(miko)
  return miko
}
afterEach(async () => {
  for (const miko of running.splice(0)) {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  }
  for (const server of servers.splice(0)) server.close()
})

const statusOf = async (miko: Miko, service: string, id: string) => {
  const { body } = await list(miko, `?service=${service}`, admin)
  const endpoint = (body["services"][service] ?? []).find((e: Json) => String(e["id"]) === id)
  return endpoint?.status as string | undefined
}

const backend = async () => {
  const server = createServer((_, res) => res.writeHead(200).end("ok"))
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  servers.push(server)
  return { server, port: (server.address() as AddressInfo).port }
}

describe("leases", () => {
  it("heartbeats keep an endpoint passing; without them it turns critical after the ttl, then is removed", async () => {
    const miko = await start({ registry: { deregisterCriticalAfter: "1s" } })
    await register(miko, "web", { id: "web-1", publicAddress: "https://web.example.com", ttl: "1s" })
    for (let i = 0; i < 4; i++) {
      await sleep(400)
      expect((await api(`${miko.url}/v1/services/web/endpoints/web-1/heartbeat`, { method: "PUT", token: anyRegistrar })).status).toBe(200)
    }
    expect(await statusOf(miko, "web", "web-1")).toBe("passing")
    await eventually(async () => (await statusOf(miko, "web", "web-1")) === "critical")
    const critical = await list(miko, "?status=critical")
    expect(critical.body["services"]["web"]).toHaveLength(1)
    await eventually(async () => (await statusOf(miko, "web", "web-1")) === undefined)
  })

  it("a heartbeat brings a critical endpoint back to passing", async () => {
    const miko = await start({ registry: { deregisterCriticalAfter: "1m" } })
    await register(miko, "web", { id: "web-1", publicAddress: "https://web.example.com", ttl: "500ms" })
    await eventually(async () => (await statusOf(miko, "web", "web-1")) === "critical")
    await api(`${miko.url}/v1/services/web/endpoints/web-1/heartbeat`, { method: "PUT", token: anyRegistrar })
    expect(await statusOf(miko, "web", "web-1")).toBe("passing")
  })

  it("registrations survive a restart, and leases count again from the start: a restart alone changes no status", async () => {
    const config = { registry: { deregisterCriticalAfter: "1m" } }
    const first = await start(config)
    await register(first, "web", { id: "web-1", publicAddress: "https://web.example.com", ttl: "3s" })
    await register(first, "api", { id: "api-1", publicAddress: "https://api.example.com" })
    const before = (await list(first)).body["index"] as unknown as number
    expect(await first.stop()).toBe(0)
    // The lease runs out while Miko is down: nobody was there to hear a heartbeat.
    await sleep(3_500)
    const second = await start(config, first.dir)
    expect(await statusOf(second, "api", "api-1")).toBe("passing")
    expect(await statusOf(second, "web", "web-1")).toBe("passing")
    await sleep(1_000)
    expect(await statusOf(second, "web", "web-1")).toBe("passing")
    expect((await list(second)).body["index"]).toBe(before)
    // A grace of one ttl from the start: still silent, it lapses then.
    await eventually(async () => (await statusOf(second, "web", "web-1")) === "critical", 5_000)
    expect((await list(second)).body["index"] as unknown as number).toBeGreaterThan(before)
  })
})

describe("active health checks", () => {
  it("an HTTP check flips the status when the backend stops, and back when it returns", async () => {
    const { server, port } = await backend()
    const miko = await start({ registry: { deregisterCriticalAfter: "1m" } })
    await register(miko, "web", {
      id: "web-1",
      internalAddress: `http://127.0.0.1:${port}`,
      check: { http: `http://127.0.0.1:${port}/health`, interval: "200ms", timeout: "500ms", healthyThreshold: 1, unhealthyThreshold: 2 }
    })
    await eventually(async () => (await statusOf(miko, "web", "web-1")) === "passing")
    server.close()
    server.closeAllConnections()
    await eventually(async () => (await statusOf(miko, "web", "web-1")) === "critical")
    const again = createServer((_, res) => res.writeHead(200).end("ok"))
    await new Promise<void>((resolve) => again.listen(port, "127.0.0.1", resolve))
    servers.push(again)
    await eventually(async () => (await statusOf(miko, "web", "web-1")) === "passing")
  })

  it("a TCP check", async () => {
    const { port } = await backend()
    const miko = await start()
    await register(miko, "db", { id: "db-1", internalAddress: `127.0.0.1:${port}`, protocol: "tcp", check: { tcp: `127.0.0.1:${port}`, interval: "200ms" } })
    await eventually(async () => (await statusOf(miko, "db", "db-1")) === "passing")
    await register(miko, "db", { id: "db-2", internalAddress: "127.0.0.1:9", protocol: "tcp", check: { tcp: "127.0.0.1:9", interval: "200ms", unhealthyThreshold: 1 } })
    await sleep(600)
    expect(await statusOf(miko, "db", "db-2")).toBe("critical")
  })

  it("a check needs exactly one of http or tcp", async () => {
    const miko = await start()
    const { status, body } = await register(miko, "db", { internalAddress: "127.0.0.1:9", check: { interval: "1s" } })
    expect(status).toBe(400)
    expect(body["error"]["message"]).toContain("exactly one of check.http or check.tcp")
  })
})

describe("change watching", () => {
  it("a blocked long-poll is woken by a registration", async () => {
    const miko = await start()
    const { body } = await list(miko)
    const index = body["index"] as unknown as number
    const started = Date.now()
    const poll = list(miko, `?index=${index}&wait=20s`)
    await sleep(300)
    const registered = Date.now()
    await register(miko, "web", { id: "web-1", publicAddress: "https://web.example.com" })
    const answer = await poll
    expect(answer.body["index"] as unknown as number).toBeGreaterThan(index)
    expect(answer.body["services"]["web"]).toHaveLength(1)
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(Date.now()).toBeGreaterThanOrEqual(registered)
  })

  it("answers at once when the index is already past, and after the wait when nothing changes", async () => {
    const miko = await start()
    const index = (await list(miko)).body["index"] as unknown as number
    expect((await list(miko, `?index=${index - 1}&wait=20s`)).status).toBe(200)
    const started = Date.now()
    const idle = await list(miko, `?index=${index}&wait=300ms`)
    expect(idle.body["index"]).toBe(index)
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
  })

  it("the wait is capped by registry.maxWait", async () => {
    const miko = await start({ registry: { maxWait: "300ms" } })
    const index = (await list(miko)).body["index"] as unknown as number
    const started = Date.now()
    await list(miko, `?index=${index}&wait=1m`)
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it("waiting requests return when Miko shuts down", async () => {
    const miko = await start()
    const index = (await list(miko)).body["index"] as unknown as number
    const polls = Array.from({ length: 5 }, () => list(miko, `?index=${index}&wait=60s`))
    // Long enough for every request to be parked on the server (a busy machine included).
    await sleep(1_500)
    const stopped = miko.stop()
    for (const poll of await Promise.all(polls)) expect(poll.status).toBe(200)
    expect(await stopped).toBe(0)
  })
})

describe("static endpoints and settings from config", () => {
  it("registry.static is a directory without self-registration, and changes apply live", async () => {
    const miko = await start({
      registry: { static: { billing: [{ publicAddress: "https://billing.example.com", internalAddress: "http://billing.internal:8080", zone: "eu-1" }] } }
    })
    const { body } = await list(miko, "?service=billing", admin)
    expect(body["services"]["billing"][0]).toMatchObject({ id: "billing-static-0", source: "static", status: "passing", internalAddress: "http://billing.internal:8080" })
    const index = body["index"] as unknown as number
    const poll = list(miko, `?index=${index}&wait=20s`)
    const change = await api(`${miko.url}/v1/config/registry.static`, {
      method: "PUT",
      token: admin,
      body: { value: { billing: [{ id: "billing-a", publicAddress: "https://billing-a.example.com" }], search: [{ publicAddress: "https://search.example.com" }] } }
    })
    expect(change.status).toBe(200)
    const answer = await poll
    expect(answer.body["index"] as unknown as number).toBeGreaterThan(index)
    await eventually(async () => Object.keys((await list(miko)).body["services"]).join(",") === "billing,search")
    const after = await list(miko)
    expect(after.body["services"]["billing"].map((e: Json) => String(e["id"]))).toEqual(["billing-a"])
    expect((await api(`${miko.url}/v1/services/billing/endpoints/billing-a`, { method: "DELETE", token: admin })).status).toBe(409)
    expect((await register(miko, "billing", { id: "billing-a", publicAddress: "https://x.example.com" })).status).toBe(409)
  })

  it("registry.publicRead: false requires a token to read", async () => {
    const miko = await start({ registry: { publicRead: false } })
    expect((await list(miko)).status).toBe(401)
    expect((await api(`${miko.url}/v1/services`)).status).toBe(401)
    expect((await list(miko, "", anyRegistrar)).status).toBe(200)
  })
})
