import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Json, type Miko, startMiko } from "../support/miko.js"
import { admin, anyRegistrar, internalReader, list, register, tokens, webRegistrar } from "./support.js"

let miko: Miko
beforeAll(async () => {
  miko = await startMiko({ config: { auth: { tokens } } })
  await register(miko, "web", { id: "web-1", publicAddress: "https://web-1.example.com", internalAddress: "http://10.0.0.1:8080", zone: "eu-1", tags: ["blue"], weight: 1 })
  await register(miko, "web", { id: "web-2", publicAddress: "https://web-2.example.com", internalAddress: "http://10.0.0.2:8080", zone: "eu-2", tags: ["green"], weight: 5 })
  await register(miko, "db", { id: "db-1", internalAddress: "db.internal:5432", protocol: "tcp" })
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

const allText = (value: unknown) => JSON.stringify(value)

describe("the endpoint list", () => {
  it("groups by service with an index, ordered passing first then by weight", async () => {
    const { status, body, headers } = await list(miko, "", internalReader)
    expect(status).toBe(200)
    expect(typeof body["index"]).toBe("number")
    expect(headers.get("x-miko-index")).toBe(String(body["index"]))
    expect(Object.keys(body["services"])).toEqual(["db", "web"])
    expect(body["services"]["web"].map((e: Json) => String(e["id"]))).toEqual(["web-2", "web-1"])
    expect(body["services"]["web"][0]).toMatchObject({ service: "web", status: "passing", source: "registered", protocol: "http", weight: 5 })
  })

  it("filters by service (repeatable), tag, zone and status", async () => {
    expect(Object.keys((await list(miko, "?service=db&service=web", internalReader)).body["services"])).toEqual(["db", "web"])
    expect(Object.keys((await list(miko, "?service=web", internalReader)).body["services"])).toEqual(["web"])
    expect((await list(miko, "?tag=green")).body["services"]["web"].map((e: Json) => String(e["id"]))).toEqual(["web-2"])
    expect((await list(miko, "?zone=eu-1")).body["services"]["web"].map((e: Json) => String(e["id"]))).toEqual(["web-1"])
    expect((await list(miko, "?status=critical")).body["services"]).toEqual({})
    expect((await list(miko, "?status=bogus")).status).toBe(400)
  })

  it("an unchanged list answers 304 to If-None-Match", async () => {
    const first = await list(miko)
    const etag = first.headers.get("etag")!
    const again = await api(`${miko.url}/v1/endpoints`, { headers: { "if-none-match": etag } })
    expect(again.status).toBe(304)
    const internal = await api(`${miko.url}/v1/endpoints`, { token: internalReader, headers: { "if-none-match": etag } })
    expect(internal.status).toBe(200)
  })
})

describe("internal addresses are only for the internal role", () => {
  it("never appear without the role, in any route or filter", async () => {
    for (const token of [undefined, webRegistrar, anyRegistrar]) {
      for (const path of ["/v1/endpoints", "/v1/endpoints?service=db", "/v1/endpoints?service=web&zone=eu-1", "/v1/services", "/v1/services/web"]) {
        const { body } = await api(`${miko.url}${path}`, token === undefined ? {} : { token })
        const text = allText(body)
        expect(text, path).not.toContain("10.0.0.")
        expect(text, path).not.toContain("internalAddress")
        expect(text, path).not.toContain("db-1")
      }
    }
  })

  it("internal-only services do not exist for public callers", async () => {
    expect((await api(`${miko.url}/v1/services/db`)).status).toBe(404)
    expect((await api(`${miko.url}/v1/services`)).body["services"].map((s: Json) => String(s["name"]))).toEqual(["web"])
  })

  it("the internal role (and admin) see them", async () => {
    for (const token of [internalReader, admin]) {
      const { body } = await list(miko, "", token)
      expect(body["services"]["db"][0]["internalAddress"]).toBe("db.internal:5432")
      expect(body["services"]["web"][0]["internalAddress"]).toMatch(/^http:\/\/10\.0\.0\./)
    }
    const detail = await api(`${miko.url}/v1/services/db`, { token: internalReader })
    expect(detail.body).toMatchObject({ service: { name: "db", endpoints: 1, passing: 1 }, endpoints: [{ id: "db-1" }] })
  })
})

describe("registration", () => {
  it("answers 201 with the id; the same id again updates with 200", async () => {
    const created = await register(miko, "api", { publicAddress: "https://api.example.com" })
    expect(created.status).toBe(201)
    const id = created.body["id"] as unknown as string
    expect(id).toMatch(/^api-/)
    const updated = await register(miko, "api", { id, publicAddress: "https://api-2.example.com", weight: 3 })
    expect(updated.status).toBe(200)
    expect(updated.body).toMatchObject({ id, publicAddress: "https://api-2.example.com", weight: 3 })
    const { body } = await list(miko, "?service=api")
    expect(body["services"]["api"]).toHaveLength(1)
  })

  it("deregisters with 204", async () => {
    await register(miko, "tmp", { id: "tmp-1", publicAddress: "https://tmp.example.com" })
    expect((await api(`${miko.url}/v1/services/tmp/endpoints/tmp-1`, { method: "DELETE", token: anyRegistrar })).status).toBe(204)
    expect((await list(miko, "?service=tmp")).body["services"]).toEqual({})
  })
})

describe("bad input: a specific 4xx, nothing stored half-way", () => {
  it("an unknown service", async () => {
    const { status, body } = await api(`${miko.url}/v1/services/nothing`)
    expect(status).toBe(404)
    expect(body["error"]["code"]).toBe("service_not_found")
  })

  it("a bad address, no address, a bad ttl, a bad service name", async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["web", { publicAddress: "not an address" }, "publicAddress"],
      ["web", { protocol: "http" }, "at least one of publicAddress or internalAddress"],
      ["web", { publicAddress: "https://x.example.com", ttl: "soon" }, "ttl"],
      ["web", { publicAddress: "https://x.example.com", ttl: "0s" }, "ttl"],
      ["web", { publicAddress: "https://x.example.com", protocol: "smtp" }, "protocol"],
      ["Web_Service", { publicAddress: "https://x.example.com" }, "service"]
    ]
    for (const [service, body, mention] of cases) {
      const response = await register(miko, service, body)
      expect(response.status, JSON.stringify(body)).toBe(400)
      expect(response.body["error"]["message"], JSON.stringify(body)).toContain(mention)
    }
    expect(allText((await list(miko, "", admin)).body)).not.toContain("x.example.com")
  })

  it("an id that belongs to another service: 409", async () => {
    const { status, body } = await register(miko, "api", { id: "web-1", publicAddress: "https://steal.example.com" })
    expect(status).toBe(409)
    expect(body["error"]["code"]).toBe("endpoint_conflict")
    expect(allText((await list(miko)).body)).not.toContain("steal")
  })

  it("a heartbeat answers the endpoint as registered with lastSeenAt moved, whatever its metadata holds", async () => {
    const metadata = { lastSeenAt: "1970-01-01T00:00:00.000Z", "quote\"d": "a\"}b", ttl: "1s" }
    const created = await register(miko, "hb", { id: "hb-1", publicAddress: "https://hb-1.example.com", ttl: "30s", metadata })
    expect(created.status).toBe(201)
    const beat = () => api(`${miko.url}/v1/services/hb/endpoints/hb-1/heartbeat`, { method: "PUT", token: anyRegistrar })
    const first = await beat()
    await new Promise((resolve) => setTimeout(resolve, 5))
    const second = await beat()
    expect(second.status).toBe(200)
    const { lastSeenAt, ...rest } = second.body
    expect(rest).toEqual({ ...created.body, lastSeenAt: undefined, metadata })
    expect(Date.parse(String(lastSeenAt))).toBeGreaterThan(Date.parse(String(first.body["lastSeenAt"])))
    expect((await api(`${miko.url}/v1/services/hb/endpoints/hb-1`, { method: "DELETE", token: anyRegistrar })).status).toBe(204)
  })

  it("a heartbeat or deregistration for an unknown id: 404", async () => {
    expect((await api(`${miko.url}/v1/services/web/endpoints/nope/heartbeat`, { method: "PUT", token: anyRegistrar })).status).toBe(404)
    expect((await api(`${miko.url}/v1/services/db/endpoints/web-1/heartbeat`, { method: "PUT", token: anyRegistrar })).status).toBe(404)
    expect((await api(`${miko.url}/v1/services/web/endpoints/nope`, { method: "DELETE", token: anyRegistrar })).status).toBe(404)
  })

  it("writes without a token are 401; without the role or outside the token's services, 403", async () => {
    expect((await register(miko, "web", { publicAddress: "https://x.example.com" }, "")).status).toBe(401)
    expect((await api(`${miko.url}/v1/services/web/endpoints`, { method: "POST", body: { publicAddress: "https://x.example.com" } })).status).toBe(401)
    expect((await register(miko, "web", { publicAddress: "https://x.example.com" }, internalReader)).status).toBe(403)
    const scoped = await register(miko, "api", { publicAddress: "https://x.example.com" }, webRegistrar)
    expect(scoped.status).toBe(403)
    expect(scoped.body["error"]["message"]).toContain("api")
    expect((await register(miko, "web", { id: "web-9", publicAddress: "https://web-9.example.com" }, webRegistrar)).status).toBe(201)
    expect((await api(`${miko.url}/v1/services/web/endpoints/web-9`, { method: "DELETE", token: webRegistrar })).status).toBe(204)
  })
})
