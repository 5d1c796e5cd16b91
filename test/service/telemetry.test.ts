import { describe, expect, it } from "vitest"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { api, cleanup, startMiko } from "../support/miko.js"

/** A minimal OTLP/HTTP receiver on loopback that keeps every body it is sent, by path. */
const startCollector = async () => {
  const received = new Map<string, Array<string>>()
  const server = createServer((req, res) => {
    let body = ""
    req.on("data", (chunk: Buffer) => (body += chunk.toString()))
    req.on("end", () => {
      received.set(req.url ?? "", [...(received.get(req.url ?? "") ?? []), body])
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(resolve)) }
}

describe("OpenTelemetry export", () => {
  it("exports spans for HTTP requests and SQL queries, and flushes them on shutdown", async () => {
    const collector = await startCollector()
    const miko = await startMiko({ config: { telemetry: { otlpEndpoint: collector.url, serviceName: "miko-test" } } })
    await api(`${miko.url}/readyz`)
    await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token: miko.token(), body: { value: "debug" } })
    expect(await miko.stop()).toBe(0)
    const traces = (collector.received.get("/v1/traces") ?? []).join("\n")
    expect(traces).toContain("miko-test")
    expect(traces).toMatch(/http\.server|GET|PUT/)
    expect(traces).toContain("sql.execute")
    await collector.close()
    cleanup(miko.dir)
  })

  it("with no endpoint, nothing is exported and no exporter is loaded", async () => {
    const collector = await startCollector()
    const miko = await startMiko()
    await api(`${miko.url}/readyz`)
    expect(await miko.stop()).toBe(0)
    expect(collector.received.size).toBe(0)
    await collector.close()
    cleanup(miko.dir)
  })
})
