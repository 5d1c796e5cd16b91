import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { MetricsCollection } from "../telemetry/metrics.js"
import type { EndpointStatus } from "./model.js"
import { initialize } from "./metrics.js"
import { Registry } from "./service.js"

const endpoints = Metric.gauge("miko_registry_endpoints", { description: "Endpoints in the directory, by service and status" })
const protectionActive = Metric.gauge("miko_registry_protection_active", { description: "1 while mass-expiry protection holds the leases, else 0" })
const statuses: ReadonlyArray<EndpointStatus> = ["passing", "warning", "critical"]

/**
 * Endpoints by service and status, from `Registry.services`. A service that left the directory
 * is set to 0 once, so its last count does not linger as if it were current.
 */
export const layerMetrics: Layer.Layer<never, never, Registry | MetricsCollection> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const registry = yield* Registry
    const collection = yield* MetricsCollection
    yield* initialize
    let shown = new Set<string>()
    yield* collection.observe(Effect.gen(function*() {
      const { services, protection } = yield* registry.services("internal")
      const now = new Set(services.map((service) => service.name))
      const gone = [...shown].filter((name) => !now.has(name)).map((name) => ({ name, passing: 0, warning: 0, critical: 0 }))
      for (const service of [...services, ...gone]) {
        for (const status of statuses) yield* Metric.set(endpoints.pipe(Metric.tagged("service", service.name), Metric.tagged("status", status)), service[status])
      }
      shown = now
      yield* Metric.set(protectionActive, protection.active ? 1 : 0)
    }))
  })
)
