import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { admin, anyRegistrar, internalReader, register, tokens, webRegistrar } from "../registry/support.js"
import { type Client, connect } from "./client.js"

let miko: Miko
const clients: Array<Client> = []
const open = async (token?: string) => {
  const client = await connect(miko.url, token === undefined ? {} : { token })
  clients.push(client)
  return client
}

beforeAll(async () => {
  miko = await startMiko({ config: { auth: { tokens }, websocket: { authTimeout: "1s", maxSubscriptions: 3 } } })
})
afterAll(async () => {
  for (const client of clients) client.ws.terminate()
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

describe("connecting and authenticating", () => {
  it("by Authorization header at the upgrade: a hello, then commands", async () => {
    const client = await open(admin)
    expect(await client.next((m) => m.type === "hello")).toMatchObject({ authenticated: true })
    expect(await client.command("ping")).toMatchObject({ ok: true, data: { pong: true } })
  })

  it("by a first auth message", async () => {
    const client = await open()
    expect(await client.next((m) => m.type === "hello")).toMatchObject({ authenticated: false })
    const before = await client.command("ping")
    expect(before).toMatchObject({ ok: false, error: { code: "unauthorized" } })
    client.send({ type: "auth", token: internalReader })
    expect(await client.next((m) => m.type === "auth")).toMatchObject({ ok: true, name: "mesh", roles: ["internal"] })
    expect(await client.command("ping")).toMatchObject({ ok: true })
  })

  it("no auth within websocket.authTimeout: closed with 1008", async () => {
    const client = await open()
    expect(await client.closed).toMatchObject({ code: 1008, reason: "authentication timeout" })
  })

  it("a wrong token in the auth message: closed with 1008", async () => {
    const client = await open()
    client.send({ type: "auth", token: "nope" })
    expect(await client.next((m) => m.type === "auth")).toMatchObject({ ok: false, error: { code: "unauthorized" } })
    expect((await client.closed).code).toBe(1008)
  })

  it("a wrong token at the upgrade is refused with 401", async () => {
    await expect(connect(miko.url, { token: "nope" })).rejects.toThrow("401")
  })

  it("a plain GET on the endpoint says to upgrade", async () => {
    const { status, body } = await api(`${miko.url}/v1/ws`)
    expect(status).toBe(426)
    expect(body["error"]["code"]).toBe("upgrade_required")
  })
})

describe("commands are checked against the token's roles exactly as HTTP routes are", () => {
  it("config commands need admin", async () => {
    const registrar = await open(anyRegistrar)
    expect(await registrar.command("config.get")).toMatchObject({ ok: false, error: { code: "forbidden" } })
    const ops = await open(admin)
    expect(await ops.command("config.get", { key: "http.host" })).toMatchObject({ ok: true, data: { key: "http.host", value: "127.0.0.1" } })
    expect(await ops.command("config.set", { key: "scheduler.maxRunningTasks", value: 5 })).toMatchObject({ ok: true, data: { value: 5, source: "runtime" } })
    expect(await ops.command("config.set", { key: "scheduler.maxRunningTasks", value: "x" })).toMatchObject({ ok: false, error: { code: "config_value_invalid" } })
    expect(await ops.command("config.reset", { key: "scheduler.maxRunningTasks" })).toMatchObject({ ok: true, data: { value: 8 } })
    expect(await ops.command("config.reset")).toMatchObject({ ok: true })
  })

  it("registration is scoped by role and services", async () => {
    const scoped = await open(webRegistrar)
    const denied = await scoped.command("endpoints.register", { service: "api", endpoint: { publicAddress: "https://api.example.com" } })
    expect(denied).toMatchObject({ ok: false, error: { code: "forbidden" } })
    const reader = await open(internalReader)
    expect(await reader.command("endpoints.register", { service: "web", endpoint: { publicAddress: "https://w.example.com" } }))
      .toMatchObject({ ok: false, error: { code: "forbidden" } })
    const ok = await scoped.command("endpoints.register", { service: "web", endpoint: { id: "ws-web-1", publicAddress: "https://web.example.com" } })
    expect(ok).toMatchObject({ ok: true, data: { created: true, endpoint: { id: "ws-web-1" } } })
    expect(await scoped.command("endpoints.heartbeat", { service: "web", id: "ws-web-1" })).toMatchObject({ ok: true, data: { status: "passing" } })
    expect(await scoped.command("endpoints.heartbeat", { service: "web", id: "nope" })).toMatchObject({ ok: false, error: { code: "endpoint_not_found" } })
    expect(await scoped.command("endpoints.deregister", { service: "web", id: "ws-web-1" })).toMatchObject({ ok: true })
  })

  it("endpoints.list hides internal addresses without the internal role", async () => {
    await register(miko, "hidden", { id: "hidden-1", internalAddress: "http://10.9.9.9:80" })
    const registrar = await open(anyRegistrar)
    const publicView = await registrar.command("endpoints.list")
    expect(JSON.stringify(publicView.data)).not.toContain("10.9.9.9")
    const reader = await open(internalReader)
    const internalView = await reader.command("endpoints.list", { service: "hidden" })
    expect(internalView.data!["services"]["hidden"][0]["internalAddress"]).toBe("http://10.9.9.9:80")
  })
})

describe("bad input gets an error result and the connection stays open", () => {
  it("malformed JSON, unknown commands, wrong argument types, wrong message shapes", async () => {
    const client = await open(admin)
    client.send("{not json")
    expect(await client.next((m) => m.type === "result" && m.error?.code === "invalid_json")).toBeDefined()
    expect(await client.command("endpoints.lst")).toMatchObject({ ok: false, error: { code: "unknown_command" } })
    expect((await client.command("endpoints.lst")).error!.message).toContain("did you mean \"endpoints.list\"")
    expect(await client.command("endpoints.register", { service: "web", endpoint: { publicAddress: 5 } })).toMatchObject({ ok: false, error: { code: "invalid_arguments" } })
    expect(await client.command("endpoints.list", { servce: "web" })).toMatchObject({ ok: false, error: { code: "invalid_arguments" } })
    client.send({ type: "shout", id: 99 })
    expect(await client.next((m) => m.type === "result" && m.id === 99)).toMatchObject({ ok: false, error: { code: "invalid_message" } })
    expect(await client.command("ping")).toMatchObject({ ok: true })
  })

  it("a message over websocket.maxMessageBytes", async () => {
    const client = await open(admin)
    client.send({ type: "command", id: "big", command: "ping", args: { pad: "x".repeat(70_000) } })
    expect(await client.next((m) => m.id === "big")).toMatchObject({ ok: false, error: { code: "message_too_large" } })
    expect(await client.command("ping")).toMatchObject({ ok: true })
  })

  it("more subscriptions than websocket.maxSubscriptions", async () => {
    const client = await open(admin)
    for (let i = 0; i < 3; i++) expect((await client.command("subscribe", { topic: "endpoints" })).ok).toBe(true)
    expect(await client.command("subscribe", { topic: "endpoints" })).toMatchObject({ ok: false, error: { code: "too_many_subscriptions" } })
    const sub = (await client.next((m) => m.type === "event")).subscription!
    expect(await client.command("unsubscribe", { subscription: sub })).toMatchObject({ ok: true })
    expect(await client.command("unsubscribe", { subscription: sub })).toMatchObject({ ok: false, error: { code: "unknown_subscription" } })
    expect((await client.command("subscribe", { topic: "endpoints" })).ok).toBe(true)
  })
})
