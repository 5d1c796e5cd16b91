import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"

let miko: Miko
let token: string

beforeAll(async () => {
  miko = await startMiko({ config: { http: { maxBodyBytes: 1024 } } })
  token = miko.token()
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

const expectEnvelope = (body: unknown, code: string) => {
  expect(body).toMatchObject({ error: { code } })
  expect(typeof (body as { error: { message: unknown } }).error.message).toBe("string")
}

describe("every error is a JSON envelope with the right 4xx", () => {
  it("malformed JSON: 400", async () => {
    const { status, body } = await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token, body: "{\"value\": " })
    expect(status).toBe(400)
    expectEnvelope(body, "invalid_json")
  })

  it("a body without content type is read as JSON", async () => {
    const response = await fetch(`${miko.url}/v1/config/general.logLevel`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
      body: JSON.stringify({ value: "info" })
    })
    expect(response.status).toBe(200)
  })

  it("a missing field: 400 naming it", async () => {
    const { status, body } = await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token, body: {} })
    expect(status).toBe(400)
    expectEnvelope(body, "invalid_request")
    expect(body["error"]["message"]).toContain("value")
  })

  it("a wrong type for the key: 400 naming key, expectation and value", async () => {
    const { status, body } = await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { method: "PUT", token, body: { value: "many" } })
    expect(status).toBe(400)
    expectEnvelope(body, "config_value_invalid")
    expect(String(body["error"]["message"])).toMatch(/scheduler\.maxRunningTasks: Expected .*"many"/)
    expect(String(body["error"]["message"])).not.toContain("undefined")
  })

  it("an unknown key: 404 with a suggestion", async () => {
    const { status, body } = await api(`${miko.url}/v1/config/scheduler.maxRunningTask`, { method: "PUT", token, body: { value: 1 } })
    expect(status).toBe(404)
    expectEnvelope(body, "config_key_unknown")
    expect(body["error"]["message"]).toContain("did you mean \"scheduler.maxRunningTasks\"")
  })

  it("an oversized body: 413", async () => {
    const { status, body } = await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token, body: { value: "x".repeat(5000) } })
    expect(status).toBe(413)
    expectEnvelope(body, "payload_too_large")
  })

  it("an unknown route: 404", async () => {
    const { status, body } = await api(`${miko.url}/v1/nothing-here`)
    expect(status).toBe(404)
    expectEnvelope(body, "not_found")
  })

  it("nothing is stored half-way after a rejected change", async () => {
    await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { method: "PUT", token, body: { value: -1 } })
    const { body } = await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { token })
    expect(body).toMatchObject({ value: 8, source: "default" })
  })
})

describe("health, OpenAPI and docs", () => {
  it("/healthz and /readyz answer 200", async () => {
    expect((await api(`${miko.url}/healthz`)).status).toBe(200)
    expect(await api(`${miko.url}/readyz`)).toMatchObject({ status: 200, body: { status: "ready" } })
  })

  it("/openapi.json describes the API and the error envelope", async () => {
    const { status, body } = await api(`${miko.url}/openapi.json`)
    expect(status).toBe(200)
    expect(Object.keys(body["paths"])).toEqual(expect.arrayContaining(["/v1/config", "/v1/config/{key}", "/healthz", "/readyz"]))
    expect(JSON.stringify(body["paths"]["/v1/config/{key}"]["put"]["responses"]["404"])).toContain("ConfigKeyUnknown")
    expect(body["components"]["schemas"]["ConfigKeyUnknown"]["properties"]["error"]["required"]).toEqual(["code", "message"])
  })

  it("/docs serves an interactive page", async () => {
    const response = await fetch(`${miko.url}/docs`)
    expect(response.status).toBe(200)
    expect(await response.text()).toContain("<html")
  })
})
