import { request as httpRequest } from "node:http"
import { connect } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanup, type Miko, startMiko } from "../support/miko.js"

// The HTTP edge: whatever a client sends, the answer is the error envelope with a 4xx, never a
// 5xx or a reset connection. A small body limit makes the oversized cases cheap to send.
const MAX_BODY = 1024

let miko: Miko
let token: string

beforeAll(async () => {
  miko = await startMiko({ config: { http: { maxBodyBytes: MAX_BODY } } })
  token = miko.token()
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

interface Answer {
  readonly status: number
  readonly body: unknown
}

interface Sent {
  readonly method: string
  readonly path: string
  readonly headers?: Record<string, string>
  /** A string or buffer is sent with a Content-Length; a list of chunks is sent chunked. */
  readonly body?: string | Buffer | ReadonlyArray<string>
  readonly anonymous?: boolean
}

const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Sends one request with node:http, which (unlike fetch) lets a test pick any content type and
 * send a chunked body. Resolves with the answer, or rejects when the connection fails.
 */
const send = (sent: Sent): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(sent.anonymous ? {} : { authorization: `Bearer ${token}` }), ...sent.headers }
    const req = httpRequest(`${miko.url}${sent.path}`, { method: sent.method, headers, agent: false }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => (text += chunk))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: parsed(text) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    const body = sent.body
    if (body === undefined) req.end()
    else if (typeof body === "string" || Buffer.isBuffer(body)) req.end(body)
    else {
      for (const chunk of body) req.write(chunk)
      req.end()
    }
  })

const expectEnvelope = (answer: Answer, status: number, code: string) => {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status)
  expect(answer.body).toMatchObject({ error: { code } })
  expect(typeof (answer.body as { error: { message: unknown } }).error.message).toBe("string")
}

const setLogLevel = (headers: Record<string, string>, body: Sent["body"] = JSON.stringify({ value: "info" })) =>
  send({ method: "PUT", path: "/v1/config/general.logLevel", headers, body })

const aTask = JSON.stringify({
  name: "edge-check",
  kind: "http",
  http: { method: "GET", url: "http://127.0.0.1:9/" },
  triggers: [{ event: "edge-check" }]
})

describe("bodies that are not JSON: 415", () => {
  it("multipart without a boundary on the routes that take a body", async () => {
    const multipart = { "content-type": "multipart/form-data" }
    expectEnvelope(await send({ method: "POST", path: "/v1/tasks", headers: multipart, body: aTask }), 415, "unsupported_media_type")
    expectEnvelope(await setLogLevel(multipart), 415, "unsupported_media_type")
    const registration = JSON.stringify({ publicAddress: "http://127.0.0.1:9" })
    expectEnvelope(
      await send({ method: "POST", path: "/v1/services/edge/endpoints", headers: multipart, body: registration }),
      415,
      "unsupported_media_type"
    )
  })

  it("a route that takes no body ignores one it cannot read", async () => {
    const answer = await send({ method: "POST", path: "/v1/config/reset", headers: { "content-type": "multipart/form-data" }, body: "{}" })
    expect(answer.status).toBe(200)
  })

  it.each([
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "text/json",
    "application/xml",
    "application/octet-stream",
    "application/json; charset=latin1",
    "application/json; charset=utf-16",
    "application/json, text/plain",
    "json",
    "garbage",
    ";",
    "*/*"
  ])("Content-Type: %s", async (type) => {
    const answer = await setLogLevel({ "content-type": type })
    expectEnvelope(answer, 415, "unsupported_media_type")
    expect((answer.body as { error: { message: string } }).error.message).toContain("application/json")
  })

  it("a chunked body of another type is refused without being read", async () => {
    const answer = await setLogLevel({ "content-type": "text/plain" }, ["{\"value\":", "\"info\"}"])
    expectEnvelope(answer, 415, "unsupported_media_type")
  })
})

describe("bodies read as JSON", () => {
  it.each([
    ["no content type", {}],
    ["an empty content type", { "content-type": "" }],
    ["the form type curl picks", { "content-type": "application/x-www-form-urlencoded" }],
    ["JSON", { "content-type": "application/json" }],
    ["JSON in capitals with a charset", { "content-type": "APPLICATION/JSON; Charset=\"UTF-8\"" }],
    ["JSON with utf8 spelled short", { "content-type": "application/json;charset=utf8" }],
    ["a +json type", { "content-type": "application/merge-patch+json" }]
  ])("%s", async (_, headers: Record<string, string>) => {
    expect((await setLogLevel(headers)).status).toBe(200)
  })

  it("a chunked body within the limit", async () => {
    const answer = await setLogLevel({ "content-type": "application/json" }, ["{\"value\":", " \"info\"", "}"])
    expect(answer.status).toBe(200)
  })
})

describe("bodies that are not valid JSON: 400", () => {
  it.each([
    ["cut short", "{\"value\": "],
    ["trailing garbage", "{\"value\": \"info\"} x"],
    ["single quotes", "{'value': 'info'}"],
    ["NaN", "{\"value\": NaN}"]
  ])("%s", async (_, body) => {
    expectEnvelope(await setLogLevel({ "content-type": "application/json" }, body), 400, "invalid_json")
  })

  it("bytes that are not UTF-8", async () => {
    const body = Buffer.concat([Buffer.from("{\"value\": \""), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from("\"}")])
    expectEnvelope(await setLogLevel({}, body), 400, "invalid_json")
  })

  it("an empty body", async () => {
    expectEnvelope(await setLogLevel({}, ""), 400, "invalid_request")
  })

  it.each([
    ["arrays", (depth: number) => `{"value": ${"[".repeat(depth)}${"]".repeat(depth)}}`],
    ["objects", (depth: number) => `{"value": ${"{\"a\":".repeat(depth)}1${"}".repeat(depth)}}`]
  ])("%s nested deeper than anyone needs", async (_, nested) => {
    for (const key of ["general.logLevel", "registry.static", "scheduler.tasks"]) {
      const answer = await send({ method: "PUT", path: `/v1/config/${key}`, body: nested(100) })
      expectEnvelope(answer, 400, "invalid_json")
    }
  })

  it("nesting stays allowed where it is plausible", async () => {
    const answer = await send({ method: "PUT", path: "/v1/config/registry.static", body: `{"value": ${"[".repeat(20)}${"]".repeat(20)}}` })
    expectEnvelope(answer, 400, "config_value_invalid")
  })

  it.each(["1e400", "-1e400", "123456789012345678901234567890", "1e-400", "0.1e1"])("the number %s", async (n) => {
    const answer = await send({ method: "PUT", path: "/v1/config/scheduler.maxRunningTasks", body: `{"value": ${n}}` })
    expect(answer.status, JSON.stringify(answer.body)).toBeGreaterThanOrEqual(200)
    expect(answer.status).toBeLessThan(500)
  })
})

describe("bodies over http.maxBodyBytes: 413", () => {
  const oversized = (total: number) => {
    const chunks = ["{\"value\": \""]
    for (let sent = 0; sent < total; sent += 512) chunks.push("x".repeat(512))
    return [...chunks, "\"}"]
  }

  it("with a Content-Length", async () => {
    expectEnvelope(await setLogLevel({}, JSON.stringify({ value: "x".repeat(MAX_BODY) })), 413, "payload_too_large")
  })

  it("chunked, slightly over", async () => {
    expectEnvelope(await setLogLevel({ "content-type": "application/json" }, oversized(MAX_BODY + 100)), 413, "payload_too_large")
  })

  it("chunked, many times over", async () => {
    expectEnvelope(await setLogLevel({}, oversized(4 * 1024 * 1024)), 413, "payload_too_large")
  })

  it("chunked and never ending: the answer comes while the client still sends", async () => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = httpRequest(`${miko.url}/v1/config/general.logLevel`, {
        method: "PUT",
        agent: false,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }
      }, (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (chunk: string) => (text += chunk))
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body: parsed(text) })
          req.destroy()
        })
      })
      req.on("error", reject)
      for (const chunk of oversized(2 * MAX_BODY)) req.write(chunk)
    })
    expectEnvelope(answer, 413, "payload_too_large")
  })

  it("the connection still serves the next request after a chunked 413", async () => {
    // One raw connection: the oversized chunked request, then a small one on the same socket.
    const body = "x".repeat(3 * MAX_BODY)
    const head = (extra: string) => `PUT /v1/config/general.logLevel HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n${extra}\r\n`
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(miko.port, "127.0.0.1")
      let received = ""
      socket.setEncoding("utf8")
      socket.on("data", (chunk: string) => {
        received += chunk
        if ((received.match(/HTTP\/1\.1 /g) ?? []).length === 2 && received.endsWith("}")) socket.end()
      })
      socket.on("end", () => resolve(received))
      socket.on("error", reject)
      socket.write(`${head("Transfer-Encoding: chunked\r\n")}${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`)
      const small = "{\"value\":\"info\"}"
      socket.write(`${head(`Content-Length: ${small.length}\r\n`)}${small}`)
    })
    const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => match[1])
    expect(statuses).toEqual(["413", "200"])
  })
})

describe("odd requests never get a 5xx", () => {
  it.each([
    ["GET", "/v1/ws", { upgrade: "websocket" }],
    ["GET", "/v1/ws", { upgrade: "websocket", connection: "keep-alive" }],
    ["GET", "/v1/config", { authorization: "garbage" }],
    ["GET", "/v1/config", { authorization: "Bearer " }],
    ["GET", "/v1/config", { authorization: "Basic Zm9vOmJhcg==" }],
    ["GET", "/v1/endpoints", { "if-none-match": "\"\"garbage" }],
    ["GET", "/v1/endpoints?index=99999999999999999999999&wait=1ms", {}],
    ["GET", "/v1/endpoints?%ZZ=1", {}],
    ["GET", "/v1/config/%ZZ", {}],
    ["GET", "/v1/tasks", { "content-type": "multipart/form-data" }],
    ["DELETE", "/v1/config/general.logLevel", { "content-type": "multipart/form-data" }],
    ["OPTIONS", "/v1/config", {}],
    ["TRACE", "/v1/config", {}],
    ["PATCH", "/v1/config/general.logLevel", { "content-type": "application/json" }],
    ["HEAD", "/v1/endpoints", {}]
  ])("%s %s %j", async (method, path, headers: Record<string, string>) => {
    const answer = await send({ method, path, headers })
    expect(answer.status, JSON.stringify(answer.body)).toBeLessThan(500)
  })

  it("the upgrade header without a WebSocket handshake: the envelope with a 4xx", async () => {
    const answer = await send({ method: "GET", path: "/v1/ws", headers: { upgrade: "websocket" } })
    expect(answer.status).toBeGreaterThanOrEqual(400)
    expect(answer.status).toBeLessThan(500)
    expect(answer.body).toMatchObject({ error: { code: expect.any(String), message: expect.stringContaining("WebSocket") } })
  })

  it("anonymous bodies of any type on routes that need a role: a 4xx", async () => {
    for (const type of ["multipart/form-data", "text/plain", "application/json"]) {
      const answer = await send({ method: "POST", path: "/v1/tasks", headers: { "content-type": type }, body: aTask, anonymous: true })
      expect(answer.status).toBeGreaterThanOrEqual(400)
      expect(answer.status).toBeLessThan(500)
    }
  })

  it("nothing above was logged as an unhandled error, and reads still answer", async () => {
    for (const path of ["/v1/tasks", "/v1/endpoints", "/v1/services", "/v1/config", "/healthz", "/readyz"]) {
      expect((await send({ method: "GET", path })).status).toBe(200)
    }
    expect(miko.output()).not.toContain("unhandled error")
  })
})
