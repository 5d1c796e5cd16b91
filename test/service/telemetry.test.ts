import { describe, expect, it } from "vitest"
import { startCollector } from "../support/collector.js"
import { api, cleanup, startMiko } from "../support/miko.js"

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
