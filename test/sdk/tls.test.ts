import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { createClient, MikoClient } from "../../sdk/ts/src/index.js"
import { cleanup, tempDir } from "../support/miko.js"
import { type Backend, eventually, type Miko, registerVia, startBackend, startSdkMiko } from "./support.js"

/** A throw-away self-signed certificate for 127.0.0.1, made with openssl when it is installed. */
const makeCertificate = (): { key: string; cert: string } | undefined => {
  const dir = tempDir("miko-sdk-tls-")
  const made = (() => {
    try {
      execFileSync("openssl", [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"
      ], { stdio: "ignore" })
      return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") }
    } catch {
      return undefined
    }
  })()
  cleanup(dir)
  return made
}

const certificate = makeCertificate()

describe.skipIf(certificate === undefined)("TLS settings", () => {
  let miko: Miko
  let secure: Backend
  beforeAll(async () => {
    miko = await startSdkMiko()
    secure = await startBackend("secure-1", undefined, certificate)
    await registerVia(miko, "secure", { id: "secure-1", publicAddress: secure.url })
  })
  afterAll(async () => {
    await secure.stop()
    await miko.stop()
    cleanup(miko.dir)
  })

  it("an https endpoint with a private CA is reached with tls.ca, and refused without it", async () => {
    const trusting = createClient({ address: miko.url, tls: { ca: certificate!.cert } })
    const response = await trusting.fetch("http://secure/orders?id=7", { method: "POST", body: JSON.stringify({ item: 1 }), headers: { "content-type": "application/json" } })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ name: "secure-1", method: "POST", url: "/orders?id=7" })

    const plain = createClient({ address: miko.url, maxAttempts: 1 })
    await eventually(() => plain.pick("secure").then(() => true, () => false))
    await expect(plain.fetch("http://secure/")).rejects.toThrow(TypeError)
    await Promise.all([trusting.close(), plain.close()])
  })

  it.live("the Effect client uses the same settings for Miko and for endpoints", () =>
    Effect.gen(function*() {
      const http = yield* MikoClient.httpClient
      const response = yield* http.get("http://secure/status")
      expect(response.status).toBe(200)
      expect(yield* response.json).toMatchObject({ name: "secure-1", url: "/status" })
    }).pipe(Effect.provide(MikoClient.layer({ address: miko.url, tls: { ca: certificate!.cert } }))))
})
