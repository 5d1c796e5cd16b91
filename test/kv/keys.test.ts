import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { admin, del, get, kvConfig, put } from "./support.js"

let miko: Miko
beforeAll(async () => {
  miko = await startMiko({ config: kvConfig({ retention: 3, maxValueBytes: 1024 }) })
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

describe("application keys over HTTP", () => {
  it("put, get and list: versions, the change index, who and why", async () => {
    const first = await put(miko, "app/db/pool-size", 10, { comment: "initial size" })
    expect(first.status).toBe(200)
    expect(first.body).toMatchObject({ key: "app/db/pool-size", version: 1, updatedBy: "ops" })
    const index = first.body["index"] as unknown as number
    const second = await put(miko, "app/db/pool-size", { min: 2, max: 20 })
    expect(second.body).toMatchObject({ version: 2, index: index + 1 })
    const read = await get(miko, "/v1/kv/app/db/pool-size")
    expect(read.status).toBe(200)
    expect(read.body).toMatchObject({ key: "app/db/pool-size", value: { min: 2, max: 20 }, version: 2, index: index + 1, secret: false })
    expect(read.body["comment"]).toBeUndefined()
    expect(read.headers.get("x-miko-index")).toBe(String(index + 1))
    expect(read.headers.get("etag")).toBe(`"${index + 1}"`)
    await put(miko, "app/name", "billing")
    await put(miko, "other/thing", true)
    const listed = await get(miko, "/v1/kv?prefix=app/")
    expect(listed.body["prefix"]).toBe("app/")
    expect(listed.body["items"].map((item) => item["key"])).toEqual(["app/db/pool-size", "app/name"])
    expect(listed.body["items"][0]!["value"]).toBeUndefined()
    expect(listed.headers.get("x-miko-index")).toBe(String(listed.body["index"]))
    const withValues = await get(miko, "/v1/kv?prefix=app/&values=true")
    expect(withValues.body["items"].map((item) => item["value"])).toEqual([{ min: 2, max: 20 }, "billing"])
    // The prefix's index is its own last change, not the global one.
    expect(withValues.body["index"]).toBeLessThan((await get(miko, "/v1/kv/other/thing")).body["index"] as unknown as number)
  })

  it("reads answered from memory (fast path) match the API's answers byte for byte", async () => {
    await put(miko, "same/a", { n: 1 }, { comment: "c" })
    await put(miko, "same/b", [1, 2])
    for (const path of ["/v1/kv/same/a", "/v1/kv?prefix=same/&values=true", "/v1/kv?prefix=same/", "/v1/kv/same/a?index=0", "/v1/kv?prefix=same/&index=0&wait=1s"]) {
      // A parameter the fast path does not know sends the same read to the API, which ignores it.
      const viaApi = await fetch(`${miko.url}${path}${path.includes("?") ? "&" : "?"}via=api`, { headers: { authorization: `Bearer ${admin}` } })
      const fast = await fetch(`${miko.url}${path}`, { headers: { authorization: `Bearer ${admin}` } })
      expect(await fast.text()).toBe(await viaApi.text())
      expect(fast.headers.get("x-miko-index")).toBe(viaApi.headers.get("x-miko-index"))
      expect(fast.headers.get("etag")).toBe(viaApi.headers.get("etag"))
    }
  })

  it("If-Match compares and sets; If-None-Match: * creates only; both answer 412 kv_version_conflict", async () => {
    await put(miko, "cas/key", 1)
    const stale = await put(miko, "cas/key", 2, { headers: { "if-match": "7" } })
    expect(stale.status).toBe(412)
    expect(stale.body["error"]["code"]).toBe("kv_version_conflict")
    const ok = await put(miko, "cas/key", 2, { headers: { "if-match": "1" } })
    expect(ok.body).toMatchObject({ version: 2 })
    expect((await put(miko, "cas/missing", 1, { headers: { "if-match": "1" } })).status).toBe(412)
    expect((await put(miko, "cas/key", 3, { headers: { "if-none-match": "*" } })).status).toBe(412)
    const created = await put(miko, "cas/new", 3, { headers: { "if-none-match": "*" } })
    expect(created.status).toBe(200)
    expect(created.body["version"]).toBe(1)
    expect((await put(miko, "cas/key", 3, { headers: { "if-match": "soon" } })).status).toBe(400)
  })

  it("delete leaves a tombstone: 404 after, and the next write takes the next version", async () => {
    await put(miko, "gone/key", "a")
    expect((await del(miko, "gone/key", { "if-match": "5" })).status).toBe(412)
    const deleted = await del(miko, "gone/key", { "if-match": "1" })
    expect(deleted.status).toBe(200)
    expect(deleted.body).toMatchObject({ key: "gone/key", version: 2 })
    const missing = await get(miko, "/v1/kv/gone/key")
    expect(missing.status).toBe(404)
    expect(missing.body["error"]["code"]).toBe("kv_key_not_found")
    expect((await del(miko, "gone/key")).status).toBe(404)
    expect((await get(miko, "/v1/kv?prefix=gone/")).body["items"]).toEqual([])
    expect((await put(miko, "gone/key", "b")).body["version"]).toBe(3)
  })

  it("history newest first with comments and deletions; rollback writes a new version equal to an old one", async () => {
    await put(miko, "hist/key", "one", { comment: "first" })
    await put(miko, "hist/key", "two")
    await del(miko, "hist/key")
    const history = await get(miko, "/v1/kv/hist/key/history")
    expect(history.status).toBe(200)
    expect(history.body["key"]).toBe("hist/key")
    expect(history.body["versions"].map((v) => [v["version"], v["deleted"], v["value"] ?? null, v["comment"] ?? null])).toEqual([
      [3, true, null, null],
      [2, false, "two", null],
      [1, false, "one", "first"]
    ])
    expect((await get(miko, "/v1/kv/hist/key/history?limit=1")).body["versions"].length).toBe(1)
    const rolled = await api(`${miko.url}/v1/kv/hist/key/rollback`, { method: "POST", token: admin, body: { version: 1 } })
    expect(rolled.status).toBe(200)
    expect(rolled.body).toMatchObject({ key: "hist/key", version: 4 })
    expect((await get(miko, "/v1/kv/hist/key")).body).toMatchObject({ value: "one", version: 4, comment: "rollback to version 1" })
    const unknown = await api(`${miko.url}/v1/kv/hist/key/rollback`, { method: "POST", token: admin, body: { version: 3 } })
    expect(unknown.status).toBe(404)
    expect(unknown.body["error"]["code"]).toBe("kv_version_not_found")
    const conflict = await api(`${miko.url}/v1/kv/hist/key/rollback`, { method: "POST", token: admin, body: { version: 2 }, headers: { "if-match": "3" } })
    expect(conflict.status).toBe(412)
    expect((await get(miko, "/v1/kv/never/was/history")).status).toBe(404)
  })

  it("keeps kv.retention versions per key, and the live setting applies to the next write", async () => {
    for (let value = 1; value <= 5; value++) await put(miko, "kept/key", value)
    expect((await get(miko, "/v1/kv/kept/key/history")).body["versions"].map((v) => v["version"])).toEqual([5, 4, 3])
    const pruned = await api(`${miko.url}/v1/kv/kept/key/rollback`, { method: "POST", token: admin, body: { version: 1 } })
    expect(pruned.body["error"]["code"]).toBe("kv_version_not_found")
    expect((await api(`${miko.url}/v1/config/kv.retention`, { method: "PUT", token: admin, body: { value: 1 } })).status).toBe(200)
    await put(miko, "kept/key", 6)
    expect((await get(miko, "/v1/kv/kept/key/history")).body["versions"].map((v) => v["version"])).toEqual([6])
    await api(`${miko.url}/v1/config/kv.retention`, { method: "DELETE", token: admin })
  })

  it("refuses bad keys with 400 kv_invalid_key, large values with 413 kv_value_too_large", async () => {
    for (const key of ["a//b", "a/b/history", "a/rollback", "a/%20b", `${"x".repeat(129)}`, Array(17).fill("s").join("/")]) {
      const answer = await put(miko, key, 1)
      expect([key, answer.status, answer.body["error"]?.["code"]]).toEqual([key, 400, "kv_invalid_key"])
    }
    expect((await put(miko, "a/b/history", 1)).body["error"]["message"]).toContain("reserved")
    const large = await put(miko, "big/value", "x".repeat(2000))
    expect(large.status).toBe(413)
    expect(large.body["error"]["code"]).toBe("kv_value_too_large")
    expect((await api(`${miko.url}/v1/kv/a/b`, { method: "PUT", token: admin, body: { comment: "no value" } })).status).toBe(400)
    expect((await api(`${miko.url}/v1/kv/a/b`, { method: "PUT", token: admin, body: { value: 1, comment: "c".repeat(1025) } })).status).toBe(400)
  })

  it("survives a restart: values, versions and the index", async () => {
    await put(miko, "durable/key", { kept: true })
    const before = await get(miko, "/v1/kv/durable/key")
    await miko.stop()
    miko = await startMiko({ dir: miko.dir, config: kvConfig({ retention: 3, maxValueBytes: 1024 }) })
    const after = await get(miko, "/v1/kv/durable/key")
    expect(after.body).toEqual(before.body)
    expect((await put(miko, "durable/key", 2)).body["index"]).toBe((before.body["index"] as unknown as number) + 1)
  })

  it("appears in /openapi.json", async () => {
    const spec = await get(miko, "/openapi.json", null)
    const paths = Object.keys(spec.body["paths"] as unknown as Record<string, unknown>)
    expect(paths).toEqual(expect.arrayContaining(["/v1/kv", "/v1/kv/{key}", "/v1/kv/{key}/history", "/v1/kv/{key}/rollback"]))
  })
})
