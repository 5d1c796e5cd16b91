import { request } from "node:http"
import { brotliDecompressSync, gunzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanup, type Miko, startMiko } from "../support/miko.js"
import { admin, internalReader, list, register, sleep, tokens } from "./support.js"

/** A raw GET, so that compressed bytes and headers are seen exactly as sent. */
const get = (miko: Miko, path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: Record<string, string | Array<string> | undefined>; body: Buffer; at: number }>((resolve, reject) => {
    const req = request(`${miko.url}${path}`, { headers }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), at: Date.now() }))
    })
    req.on("error", reject)
    req.end()
  })

let miko: Miko
beforeAll(async () => {
  miko = await startMiko({ config: { auth: { tokens } } })
  await register(miko, "web", { id: "web-1", publicAddress: "https://web-1.example.com", internalAddress: "http://10.0.0.1:8080" })
  await register(miko, "db", { id: "db-1", internalAddress: "db.internal:5432", protocol: "tcp" })
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

describe("endpoint-list reads", () => {
  it("compressed when asked, br before gzip: the same JSON, Vary set, and plain for clients that do not ask", async () => {
    const plain = await get(miko, "/v1/endpoints")
    const brotli = await get(miko, "/v1/endpoints", { "accept-encoding": "gzip, deflate, br" })
    expect(brotli.headers["content-encoding"]).toBe("br")
    expect(brotliDecompressSync(brotli.body).toString()).toBe(plain.body.toString())
    const zipped = await get(miko, "/v1/endpoints", { "accept-encoding": "br;q=0, gzip;q=0.8" })
    expect(zipped.headers["content-encoding"]).toBe("gzip")
    expect(zipped.headers["vary"]).toBe("Accept-Encoding")
    expect(gunzipSync(zipped.body).toString()).toBe(plain.body.toString())
    expect(plain.headers["content-encoding"]).toBeUndefined()
    const refused = await get(miko, "/v1/endpoints", { "accept-encoding": "gzip;q=0" })
    expect(refused.headers["content-encoding"]).toBeUndefined()
  })

  it("the service list and readiness answered from memory say what the API says", async () => {
    for (const token of [undefined, internalReader]) {
      const headers = token === undefined ? {} : { authorization: `Bearer ${token}` }
      const fast = await get(miko, "/v1/services", headers)
      // A query string the fast path leaves alone sends the request through the API.
      const api = await get(miko, "/v1/services?via=api", headers)
      expect(fast.status).toBe(200)
      expect(JSON.parse(fast.body.toString())).toEqual(JSON.parse(api.body.toString()))
    }
    const ready = await get(miko, "/readyz")
    expect(ready.status).toBe(200)
    expect(JSON.parse(ready.body.toString())).toEqual({ status: "ready" })
  })

  it("the same filters in another order answer the same bytes", async () => {
    const a = await get(miko, "/v1/endpoints?service=web&service=db", { authorization: `Bearer ${internalReader}` })
    const b = await get(miko, "/v1/endpoints?service=db&service=web", { authorization: `Bearer ${internalReader}` })
    expect(a.body.toString()).toBe(b.body.toString())
    expect(JSON.parse(a.body.toString())["services"]["db"][0]["internalAddress"]).toBe("db.internal:5432")
  })

  it("an unknown token is refused and a public reader sees no internal address", async () => {
    expect((await list(miko, "", "miko_not-a-token")).status).toBe(401)
    const anonymous = await list(miko)
    expect(JSON.stringify(anonymous.body)).not.toContain("10.0.0.1")
    expect(anonymous.body["services"]["db"]).toBeUndefined()
  })

  it("a blocking query of one service sleeps through changes to another and wakes for its own", async () => {
    const { body } = await list(miko)
    const index = Number(body["index"])
    const started = Date.now()
    const webWatch = get(miko, `/v1/endpoints?service=web&index=${index}&wait=2s`)
    const dbWatch = get(miko, `/v1/endpoints?service=db&index=${index}&wait=5s`, { authorization: `Bearer ${admin}` })
    await sleep(200)
    await register(miko, "db", { id: "db-2", internalAddress: "db2.internal:5432", protocol: "tcp" })
    const db = await dbWatch
    expect(db.at - started).toBeLessThan(1_500)
    expect(JSON.parse(db.body.toString())["services"]["db"]).toHaveLength(2)
    const web = await webWatch
    // Asleep until its wait ran out, then the unchanged list at the newest index.
    expect(web.at - started).toBeGreaterThanOrEqual(1_900)
    expect(Number(web.headers["x-miko-index"])).toBeGreaterThan(index)
  })

  it("a blocking query whose result changed since its index answers at once", async () => {
    const before = Number((await list(miko)).body["index"])
    await register(miko, "web", { id: "web-2", publicAddress: "https://web-2.example.com" })
    const started = Date.now()
    const answer = await get(miko, `/v1/endpoints?service=web&index=${before}&wait=5s`)
    expect(answer.at - started).toBeLessThan(1_000)
    expect(JSON.parse(answer.body.toString())["services"]["web"]).toHaveLength(2)
  })

  it("an unchanged result answers 304 to its ETag even after changes elsewhere", async () => {
    const first = await get(miko, "/v1/endpoints?service=web")
    await register(miko, "db", { id: "db-3", internalAddress: "db3.internal:5432", protocol: "tcp" })
    const again = await get(miko, "/v1/endpoints?service=web", { "if-none-match": String(first.headers["etag"]) })
    expect(again.status).toBe(304)
    expect(Number(again.headers["x-miko-index"])).toBeGreaterThan(Number(first.headers["x-miko-index"]))
  })

  it("a query the API would refuse gets the API's answer", async () => {
    expect((await list(miko, "?service=Not_A_Name")).status).toBe(400)
    expect((await list(miko, "?wait=soon&index=1")).status).toBe(400)
    expect((await list(miko, "?index=-1")).status).toBe(400)
  })
})
