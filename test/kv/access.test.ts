import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { billingReader, billingWriter, del, get, kvConfig, outsider, put } from "./support.js"

let miko: Miko
beforeAll(async () => {
  miko = await startMiko({ config: kvConfig() })
  await put(miko, "billing/rate", 3)
  await put(miko, "billing/db/password", "hunter2-hunter2", { secret: true })
  await put(miko, "billing/frozen/plan", "gold")
  await put(miko, "public/motd", "hello")
  await put(miko, "ops/flag", true)
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

describe("access to application keys", () => {
  it("a writer writes under its prefix; the longest rule wins, so a read rule below it is read-only", async () => {
    const written = await put(miko, "billing/rate", 4, { token: billingWriter })
    expect(written.status).toBe(200)
    expect(written.body["updatedBy"]).toBe("billing-writer")
    const frozen = await put(miko, "billing/frozen/plan", "silver", { token: billingWriter })
    expect(frozen.status).toBe(403)
    expect(frozen.body["error"]["code"]).toBe("kv_forbidden")
    expect((await get(miko, "/v1/kv/billing/frozen/plan", billingWriter)).body["value"]).toBe("gold")
    expect((await put(miko, "ops/flag", false, { token: billingWriter })).status).toBe(403)
    expect((await del(miko, "billing/frozen/plan", {}, billingWriter)).status).toBe(403)
    const rollback = await api(`${miko.url}/v1/kv/billing/frozen/plan/rollback`, { method: "POST", token: billingWriter, body: { version: 1 } })
    expect(rollback.status).toBe(403)
  })

  it("a write without write access is refused before its body is read: 403, not 400 for a body that does not parse", async () => {
    const reader = await api(`${miko.url}/v1/kv/billing/rate`, { method: "PUT", token: billingReader, body: "{not json", headers: { "content-type": "application/json" } })
    expect(reader.status).toBe(403)
    expect(reader.body["error"]["code"]).toBe("kv_forbidden")
    const anonymous = await api(`${miko.url}/v1/kv/billing/rate/rollback`, { method: "POST", body: "{}" })
    expect(anonymous.status).toBe(403)
    const writer = await api(`${miko.url}/v1/kv/billing/rate`, { method: "PUT", token: billingWriter, body: "{not json", headers: { "content-type": "application/json" } })
    expect(writer.status).toBe(400)
  })

  it("a reader reads but never writes; a denied key answers like a missing one", async () => {
    expect((await get(miko, "/v1/kv/billing/rate", billingReader)).status).toBe(200)
    expect((await put(miko, "billing/rate", 5, { token: billingReader })).status).toBe(403)
    const denied = await get(miko, "/v1/kv/ops/flag", billingReader)
    const missing = await get(miko, "/v1/kv/billing/none", billingReader)
    expect(denied.status).toBe(404)
    expect(denied.body["error"]["code"]).toBe("kv_key_not_found")
    expect(missing.status).toBe(404)
    expect((await get(miko, "/v1/kv/ops/flag/history", billingReader)).status).toBe(404)
    expect((await get(miko, "/v1/kv/ops/flag", outsider)).status).toBe(404)
  })

  it("listing needs a rule covering the whole prefix: 403 kv_forbidden otherwise", async () => {
    expect((await get(miko, "/v1/kv?prefix=billing/", billingReader)).status).toBe(200)
    expect((await get(miko, "/v1/kv?prefix=billing/db/", billingReader)).status).toBe(200)
    const wide = await get(miko, "/v1/kv?prefix=bill", billingReader)
    expect(wide.status).toBe(403)
    expect(wide.body["error"]["code"]).toBe("kv_forbidden")
    expect((await get(miko, "/v1/kv", billingReader)).status).toBe(403)
    expect((await get(miko, "/v1/kv?prefix=billing/", outsider)).status).toBe(403)
  })

  it("secret values: read by key, hidden from list and history without write access", async () => {
    expect((await get(miko, "/v1/kv/billing/db/password", billingReader)).body).toMatchObject({ value: "hunter2-hunter2", secret: true })
    const listed = await get(miko, "/v1/kv?prefix=billing/db/&values=true", billingReader)
    expect(listed.body["items"][0]).toMatchObject({ key: "billing/db/password", secret: true })
    expect(listed.body["items"][0]!["value"]).toBeUndefined()
    const history = await get(miko, "/v1/kv/billing/db/password/history", billingReader)
    expect(history.body["versions"][0]!["value"]).toBeUndefined()
    expect((await get(miko, "/v1/kv?prefix=billing/db/&values=true", billingWriter)).body["items"][0]!["value"]).toBe("hunter2-hunter2")
    expect((await get(miko, "/v1/kv/billing/db/password/history", billingWriter)).body["versions"][0]!["value"]).toBe("hunter2-hunter2")
    // An update without the flag keeps the key secret.
    await put(miko, "billing/db/password", "changed-changed", { token: billingWriter })
    expect((await get(miko, "/v1/kv/billing/db/password", billingReader)).body["secret"]).toBe(true)
    expect(miko.output()).not.toContain("hunter2")
    expect(miko.output()).not.toContain("changed-changed")
  })

  it("anonymous callers read kv.publicRead prefixes only, and never write", async () => {
    expect((await get(miko, "/v1/kv/public/motd", null)).body["value"]).toBe("hello")
    expect((await get(miko, "/v1/kv?prefix=public/&values=true", null)).body["items"].length).toBe(1)
    expect((await get(miko, "/v1/kv/billing/rate", null)).status).toBe(404)
    expect((await get(miko, "/v1/kv?prefix=billing/", null)).status).toBe(403)
    const write = await api(`${miko.url}/v1/kv/public/motd`, { method: "PUT", body: { value: "x" } })
    expect(write.status).toBe(403)
    expect(write.body["error"]["code"]).toBe("kv_forbidden")
    // Tokens read the public prefixes too.
    expect((await get(miko, "/v1/kv/public/motd", outsider)).status).toBe(200)
    expect((await get(miko, "/v1/kv/public/motd", "not-a-known-token-0123")).status).toBe(401)
  })
})
