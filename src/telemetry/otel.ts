import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { BaseConfig } from "../config/load.js"
import { version } from "../shared/version.js"

/**
 * Traces and logs over OTLP/HTTP when `telemetry.otlpEndpoint` is set. Otherwise nothing is
 * loaded: the SDK and exporters are imported only on that path. Providers flush on shutdown.
 * Metrics go through ./metrics.ts, which feeds the same series to OTLP and to `GET /metrics`.
 */
export const layerOtel: Layer.Layer<never, never, BaseConfig> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const { resolved } = yield* BaseConfig
    const { otlpEndpoint, serviceName } = resolved.config.telemetry
    if (otlpEndpoint === undefined) return Layer.empty
    const base = otlpEndpoint.replace(/\/+$/, "")
    const [sdk, traceBase, traceExporter, logs, logExporter] = yield* Effect.promise(() =>
      Promise.all([
        import("@effect/opentelemetry/NodeSdk"),
        import("@opentelemetry/sdk-trace-base"),
        import("@opentelemetry/exporter-trace-otlp-http"),
        import("@opentelemetry/sdk-logs"),
        import("@opentelemetry/exporter-logs-otlp-http")
      ])
    )
    return Layer.discard(
      sdk.layer(() => ({
        resource: { serviceName, serviceVersion: version },
        spanProcessor: new traceBase.BatchSpanProcessor(new traceExporter.OTLPTraceExporter({ url: `${base}/v1/traces` })),
        logRecordProcessor: new logs.BatchLogRecordProcessor({ exporter: new logExporter.OTLPLogExporter({ url: `${base}/v1/logs` }) })
      }))
    )
  })
)
