import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { gzipSync } from "node:zlib"
import { makeTransport } from "../../sdk/ts/src/transport.js"
import { type Backend, startBackend } from "./support.js"

/** The client's own fetch (Node's agents), as used for Miko and, with TLS settings, for services. */
const ownFetch = Effect.map(makeTransport({}), (transport) => transport.services)

let server: Backend
beforeAll(async () => {
  server = await startBackend("transport", (request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString()
      switch (request.url) {
        case "/found":
          response.writeHead(302, { location: "/echo?from=found" }).end()
          return
        case "/temporary":
          response.writeHead(307, { location: "/echo?from=temporary" }).end()
          return
        case "/gzip":
          response.writeHead(200, { "content-encoding": "gzip", "content-type": "text/plain" }).end(gzipSync("squeezed"))
          return
        case "/empty":
          response.writeHead(204).end()
          return
        case "/never":
          return
      }
      response.setHeader("content-type", "application/json")
      response.end(JSON.stringify({ method: request.method, url: request.url, body, auth: request.headers["authorization"] ?? null }))
    })
  })
})
afterAll(() => server.stop())

describe("the client's own fetch", () => {
  it.scoped("follows redirects as fetch does: 302 as GET, 307 with the same method and body; manual leaves them", () =>
    Effect.gen(function*() {
      const fetch = yield* ownFetch
      const found = yield* Effect.promise(() => fetch(`${server.url}/found`, { method: "POST", body: "x", headers: { authorization: "Bearer t" } }))
      expect(yield* Effect.promise(() => found.json())).toEqual({ method: "GET", url: "/echo?from=found", body: "", auth: "Bearer t" })
      const temporary = yield* Effect.promise(() => fetch(`${server.url}/temporary`, { method: "POST", body: "kept" }))
      expect(yield* Effect.promise(() => temporary.json())).toMatchObject({ method: "POST", url: "/echo?from=temporary", body: "kept" })
      const manual = yield* Effect.promise(() => fetch(`${server.url}/found`, { redirect: "manual" }))
      expect(manual.status).toBe(302)
      expect(manual.headers.get("location")).toBe("/echo?from=found")
    }))

  it.scoped("decompresses bodies, gives null bodies to 204, and is aborted by its signal", () =>
    Effect.gen(function*() {
      const fetch = yield* ownFetch
      expect(yield* Effect.promise(() => fetch(`${server.url}/gzip`).then((r) => r.text()))).toBe("squeezed")
      const empty = yield* Effect.promise(() => fetch(`${server.url}/empty`))
      expect(empty.status).toBe(204)
      expect(empty.body).toBeNull()
      const controller = new AbortController()
      const pending = fetch(`${server.url}/never`, { signal: controller.signal })
      controller.abort(new DOMException("stop", "AbortError"))
      const failure = yield* Effect.promise(() => pending.then(() => undefined, (error: unknown) => error))
      expect(failure).toMatchObject({ name: "AbortError" })
      const refused = yield* Effect.promise(() => fetch("http://127.0.0.1:1/").then(() => undefined, (error: unknown) => error))
      expect(refused).toBeInstanceOf(TypeError)
    }))
})
