// Pushing over OTLP and scraping GET /metrics show the same series: one collection feeds both.
import { describe, expect, it } from "vitest"
import { startCollector } from "../support/collector.js"
import { api, cleanup, startMiko } from "../support/miko.js"
import { scrape } from "./support.js"

describe("OTLP export and the Prometheus scrape", () => {
  it("export the same miko_* series", async () => {
    const collector = await startCollector()
    const miko = await startMiko({ config: { telemetry: { otlpEndpoint: collector.url } } })
    try {
      await api(`${miko.url}/v1/services/orders/endpoints`, { method: "POST", token: miko.token(), body: { publicAddress: "https://orders.example.com" } })
      await api(`${miko.url}/v1/endpoints`)
      const scraped = await scrape(miko.url)
      expect(await miko.stop()).toBe(0)
      // The OTLP body names each metric as its instrument; Prometheus adds _total to counters.
      const pushed = (collector.received.get("/v1/metrics") ?? []).join("\n")
      const families = scraped.families.map((family) => family.name)
      expect(families).toContain("miko_http_requests")
      for (const family of families) {
        const instrument = scraped.families.find((f) => f.name === family)?.type === "counter" ? `${family}_total` : family
        expect(pushed, instrument).toContain(`"${instrument}"`)
      }
    } finally {
      await miko.stop("SIGKILL")
      await collector.close()
      cleanup(miko.dir)
    }
  })
})
