import { afterEach, describe, expect, it } from "vitest"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { api, cleanup, type Miko, startMiko, tempDir } from "../support/miko.js"

const running: Array<Miko> = []
const dirs: Array<string> = []
const start = async (...args: Parameters<typeof startMiko>) => {
  const miko = await startMiko(...args)
  running.push(miko)
  if (!dirs.includes(miko.dir)) dirs.push(miko.dir)
  return miko
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((miko) => miko.stop("SIGKILL")))
  dirs.splice(0).forEach(cleanup)
})

describe("configuration scenarios on a real data dir", () => {
  it("loads the default configuration on a fresh install", async () => {
    const miko = await start()
    const { status, body } = await api(`${miko.url}/v1/config`, { token: miko.token() })
    expect(status).toBe(200)
    expect(body["config"]["scheduler"]["maxRunningTasks"]).toBe(8)
    expect(body["config"]["general"]["logLevel"]).toBe("info")
    expect(body["sources"]["scheduler.maxRunningTasks"]).toBe("default")
    expect(body["sources"]["http.port"]).toBe("file")
  })

  it("loads an existing configuration (file + persisted runtime changes) after a restart", async () => {
    const config = { scheduler: { historyRetention: 7 } }
    const first = await start({ config })
    const token = first.token()
    const set = await api(`${first.url}/v1/config/scheduler.maxRunningTasks`, { method: "PUT", token, body: { value: 3 } })
    expect(set.status).toBe(200)
    expect(set.body).toMatchObject({ key: "scheduler.maxRunningTasks", value: 3, source: "runtime", restartRequired: false })
    const port = await api(`${first.url}/v1/config/http.maxBodyBytes`, { method: "PUT", token, body: { value: 2048 } })
    expect(port.status).toBe(200)
    expect(await first.stop()).toBe(0)

    const second = await start({ config, dir: first.dir })
    expect(second.token()).toBe(token)
    const { body } = await api(`${second.url}/v1/config`, { token })
    expect(body["config"]["scheduler"]["maxRunningTasks"]).toBe(3)
    expect(body["sources"]["scheduler.maxRunningTasks"]).toBe("runtime")
    expect(body["config"]["scheduler"]["historyRetention"]).toBe(7)
    expect(body["sources"]["scheduler.historyRetention"]).toBe("file")
    expect(body["config"]["http"]["maxBodyBytes"]).toBe(2048)
  })

  it("restores the default configuration after changes", async () => {
    const miko = await start()
    const token = miko.token()
    await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { method: "PUT", token, body: { value: 2 } })
    await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token, body: { value: "debug" } })

    const one = await api(`${miko.url}/v1/config/general.logLevel`, { method: "DELETE", token })
    expect(one.body).toMatchObject({ key: "general.logLevel", value: "info", source: "default" })

    const all = await api(`${miko.url}/v1/config/reset`, { method: "POST", token })
    expect(all.status).toBe(200)
    expect(all.body["config"]["scheduler"]["maxRunningTasks"]).toBe(8)
    expect(Object.values(all.body["sources"]).every((source) => String(source) !== "runtime")).toBe(true)

    // The reset is persisted too.
    expect(await miko.stop()).toBe(0)
    const again = await start({ dir: miko.dir })
    const { body } = await api(`${again.url}/v1/config/scheduler.maxRunningTasks`, { token })
    expect(body).toMatchObject({ value: 8, source: "default" })
  })

  it("keys that need a restart say so", async () => {
    const miko = await start()
    const { body } = await api(`${miko.url}/v1/config/http.port`, { method: "PUT", token: miko.token(), body: { value: 9999 } })
    expect(body).toMatchObject({ key: "http.port", value: 9999, restartRequired: true })
  })

  it("environment beats the file, runtime beats the environment", async () => {
    const miko = await start({ config: { scheduler: { maxRunningTasks: 2 } }, env: { MIKO_SCHEDULER__MAX_RUNNING_TASKS: "5" } })
    const token = miko.token()
    expect((await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { token })).body).toMatchObject({ value: 5, source: "env" })
    await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { method: "PUT", token, body: { value: 6 } })
    expect((await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { token })).body).toMatchObject({ value: 6, source: "runtime" })
    expect((await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { method: "DELETE", token })).body).toMatchObject({ value: 5, source: "env" })
  })

  it("finds config via MIKO_CONFIG and via XDG_CONFIG_HOME", async () => {
    const dir = tempDir()
    dirs.push(dir)
    const elsewhere = join(dir, "elsewhere.yaml")
    writeFileSync(elsewhere, "http:\n  port: 0\nscheduler:\n  historyRetention: 42\n")
    const miko = await start({ dir, env: { MIKO_CONFIG: elsewhere } })
    const { body } = await api(`${miko.url}/v1/config/scheduler.historyRetention`, { token: miko.token() })
    expect(body).toMatchObject({ value: 42, source: "file" })
  })

  it("never returns token secrets", async () => {
    const secret = "s3cr3t-s3cr3t-s3cr3t"
    const miko = await start({ config: { auth: { tokens: [{ name: "ops", secret, roles: ["admin"] }] } } })
    const { body } = await api(`${miko.url}/v1/config`, { token: secret })
    expect(JSON.stringify(body)).not.toContain(secret)
    expect(body["config"]["auth"]["tokens"]).toEqual([{ name: "ops", secret: "<redacted>", roles: ["admin"] }])
    const entry = await api(`${miko.url}/v1/config/auth.tokens`, { token: secret })
    expect(JSON.stringify(entry.body)).not.toContain(secret)
  })

  it("a token taken out of auth.tokens is refused, also by the endpoint list it read before", async () => {
    const admin = "admin-admin-admin-admin"
    const reader = "reader-reader-reader-reader"
    const tokens = [{ name: "ops", secret: admin, roles: ["admin"] }, { name: "reader", secret: reader, roles: ["internal"] }]
    const miko = await start({ config: { auth: { tokens } } })
    expect((await api(`${miko.url}/v1/endpoints`, { token: reader })).status).toBe(200)
    const set = await api(`${miko.url}/v1/config/auth.tokens`, { method: "PUT", token: admin, body: { value: tokens.slice(0, 1) } })
    expect(set.status).toBe(200)
    // The new tokens reach the server as the change is published, a moment after the answer.
    await expect.poll(async () => (await api(`${miko.url}/v1/endpoints`, { token: reader })).status, { timeout: 2000 }).toBe(401)
    expect((await api(`${miko.url}/v1/endpoints`, { token: admin })).status).toBe(200)
  })

  it("a live change reaches the layers that subscribe (log level)", async () => {
    const miko = await start()
    const token = miko.token()
    await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token, body: { value: "debug" } })
    await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token, body: { value: "error" } })
    const before = miko.output().length
    await api(`${miko.url}/v1/config/nope`, { token })
    expect(miko.output().slice(before)).not.toContain("INFO")
  })
})
