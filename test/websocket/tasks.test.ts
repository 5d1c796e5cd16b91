import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { admin, anyRegistrar, tokens } from "../registry/support.js"
import { type Client, connect } from "./client.js"

let miko: Miko
const clients: Array<Client> = []
beforeAll(async () => {
  miko = await startMiko({ config: { auth: { tokens } } })
})
afterAll(async () => {
  for (const client of clients) client.ws.terminate()
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})
const open = async (token: string) => {
  const client = await connect(miko.url, { token })
  clients.push(client)
  return client
}

describe("task commands and the tasks topic", () => {
  it("tasks.list, tasks.run, tasks.pause/resume and events.fire, with executions on the tasks topic", async () => {
    const created = await api(`${miko.url}/v1/tasks`, {
      method: "POST",
      token: admin,
      body: { name: "ws-probe", kind: "http", http: { method: "GET", url: `${miko.url}/healthz` }, triggers: [{ event: "probe" }] }
    })
    expect(created.status).toBe(201)
    const id = String(created.body["id"])
    const client = await open(admin)
    const { data } = await client.command("subscribe", { topic: "tasks", taskId: id })
    const subscription = String(data!["subscription"])

    const listed = await client.command("tasks.list")
    expect(listed.ok).toBe(true)
    expect(JSON.stringify(listed.data)).toContain("ws-probe")

    expect(await client.command("tasks.run", { id })).toMatchObject({ ok: true })
    const finished = await client.next((m) => m.subscription === subscription && String(m.data?.["type"]) === "finished")
    expect(finished.data!["execution"]["status"]).toBe("succeeded")

    expect(await client.command("tasks.pause", { id })).toMatchObject({ ok: true })
    expect(await client.command("tasks.resume", { id })).toMatchObject({ ok: true })
    expect(await client.command("tasks.pause")).toMatchObject({ ok: true })
    expect(await client.command("tasks.resume")).toMatchObject({ ok: true })
    expect(await client.command("events.fire", { name: "probe" })).toMatchObject({ ok: true })
    await client.next((m) => m.subscription === subscription && String(m.data?.["type"]) === "finished" && m !== finished)
    expect(await client.command("tasks.run", { id: "nope" })).toMatchObject({ ok: false, error: { code: "task_not_found" } })
  })

  it("need the admin role, as over HTTP", async () => {
    const registrar = await open(anyRegistrar)
    expect(await registrar.command("tasks.list")).toMatchObject({ ok: false, error: { code: "forbidden" } })
    expect(await registrar.command("events.fire", { name: "probe" })).toMatchObject({ ok: false, error: { code: "forbidden" } })
    expect(await registrar.command("subscribe", { topic: "tasks" })).toMatchObject({ ok: false, error: { code: "forbidden" } })
  })
})
