import { describe, expect, it } from "vitest"
import { request } from "node:http"
import { api, cleanup, startMiko } from "../support/miko.js"

describe("controlled shutdown", () => {
  it("SIGTERM while requests are in flight: none dropped, exit 0", async () => {
    const miko = await startMiko()
    const token = miko.token()
    const body = JSON.stringify({ value: "debug" })

    // Requests whose bodies are still arriving when the signal comes: in flight by any measure.
    const slowRequest = () =>
      new Promise<{ status: number | undefined; text: string }>((resolve, reject) => {
        const req = request(`${miko.url}/v1/config/general.logLevel`, {
          method: "PUT",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) }
        }, (res) => {
          let text = ""
          res.on("data", (chunk: Buffer) => (text += chunk.toString()))
          res.on("end", () => resolve({ status: res.statusCode, text }))
        })
        req.on("error", reject)
        req.write(body.slice(0, 5))
        setTimeout(() => req.end(body.slice(5)), 600)
      })
    const inFlight = Array.from({ length: 10 }, slowRequest)
    await new Promise((resolve) => setTimeout(resolve, 200))
    miko.child.kill("SIGTERM")

    for (const answered of await Promise.all(inFlight)) {
      expect(answered.status).toBe(200)
      expect(JSON.parse(answered.text)).toMatchObject({ key: "general.logLevel", value: "debug" })
    }
    expect(await miko.exited).toBe(0)
    expect(miko.output()).toContain("shutting down")
    // New connections are refused once it is gone.
    await expect(fetch(`${miko.url}/healthz`)).rejects.toThrow()
    cleanup(miko.dir)
  })

  it("a second signal exits at once", async () => {
    const miko = await startMiko({ config: { general: { shutdownTimeout: "30s" } } })
    const token = miko.token()
    // Hold a request open so the first signal's shutdown has something to wait for.
    const req = request(`${miko.url}/v1/config/general.logLevel`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": 100 }
    })
    req.on("error", () => undefined)
    req.write("{")
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    miko.child.kill("SIGTERM")
    await new Promise((resolve) => setTimeout(resolve, 200))
    miko.child.kill("SIGTERM")
    const code = await miko.exited
    expect(code).not.toBe(0)
    expect(Date.now() - started).toBeLessThan(10_000)
    req.destroy()
    cleanup(miko.dir)
  })
})
