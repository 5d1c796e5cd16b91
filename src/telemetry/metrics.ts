import type { MetricProducer, MetricReader, ResourceMetrics } from "@opentelemetry/sdk-metrics"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { BaseConfig } from "../config/load.js"
import { version } from "../shared/version.js"

/**
 * Every `miko_*` Effect `Metric` of the process, collected by OpenTelemetry's producer for Effect
 * and read by two readers: the Prometheus scrape (`GET /metrics`) and, when
 * `telemetry.otlpEndpoint` is set, the periodic OTLP export. Both see the same series. Gauges that
 * describe a state (endpoints by status, the cluster, the process) are observed just before each
 * collection.
 */
export class MetricsCollection extends Context.Tag("miko/telemetry/MetricsCollection")<MetricsCollection, {
  /** Runs `observe` before every collection while the scope lasts; a failure is logged and skipped. */
  readonly observe: (observe: Effect.Effect<void>) => Effect.Effect<void, never, Scope.Scope>
  /** Every series now, in the Prometheus text format. */
  readonly scrape: Effect.Effect<string>
}>() {}

/** Content type of the Prometheus text format the serializer writes. */
export const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

const buildInfo = Metric.gauge("miko_build_info", { description: "Always 1; the release in the version label" }).pipe(
  Metric.tagged("version", version)
)

/** Only Miko's own series: the Effect runtime's fiber metrics stay in the process. */
const ownSeries = (metrics: ResourceMetrics): ResourceMetrics => ({
  ...metrics,
  scopeMetrics: metrics.scopeMetrics.map((scope) => ({ ...scope, metrics: scope.metrics.filter((m) => m.descriptor.name.startsWith("miko_")) }))
})

const otlpReader = (otlpEndpoint: string) =>
  Effect.promise(async (): Promise<MetricReader> => {
    const [metrics, exporter] = await Promise.all([import("@opentelemetry/sdk-metrics"), import("@opentelemetry/exporter-metrics-otlp-http")])
    return new metrics.PeriodicExportingMetricReader({
      exporter: new exporter.OTLPMetricExporter({ url: `${otlpEndpoint.replace(/\/+$/, "")}/v1/metrics` }),
      exportIntervalMillis: 10_000
    })
  })

const prometheusReader = Effect.promise(async () => {
  const { PrometheusExporter, PrometheusSerializer } = await import("@opentelemetry/exporter-prometheus")
  // No server of its own: GET /metrics on Miko's port asks it. No scope or target labels: the
  // series carry only their own labels.
  return {
    reader: new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true }),
    serializer: new PrometheusSerializer(undefined, false, undefined, true, true)
  }
})

/**
 * The collection. The OpenTelemetry SDK is loaded only when something reads: at start with an
 * OTLP endpoint, else at the first scrape, so that a Miko nobody scrapes starts as fast as before.
 */
export const layerMetrics: Layer.Layer<MetricsCollection, never, BaseConfig> = Layer.scoped(
  MetricsCollection,
  Effect.gen(function*() {
    const { resolved } = yield* BaseConfig
    const { otlpEndpoint, serviceName } = resolved.config.telemetry
    const runtime = yield* Effect.runtime<never>()
    const scope = yield* Effect.scope
    const observers = new Set<Effect.Effect<void>>()
    const observeAll = Effect.forEach(observers, (observe) => Effect.catchAllCause(observe, (cause) => Effect.logWarning("metric not observed", cause)), {
      discard: true
    })

    /** Gives `reader` the Effect metrics, observed first, until the layer closes (which flushes it). */
    const register = (reader: MetricReader) =>
      Effect.gen(function*() {
        const [Metrics, Resource] = yield* Effect.promise(() => Promise.all([import("@effect/opentelemetry/Metrics"), import("@effect/opentelemetry/Resource")]))
        const effectProducer = yield* Metrics.makeProducer.pipe(Effect.provide(Resource.layer({ serviceName, serviceVersion: version })))
        const producer: MetricProducer = {
          collect: (options) =>
            Runtime.runPromise(runtime)(observeAll)
              .then(() => effectProducer.collect(options))
              .then((result) => ({ ...result, resourceMetrics: ownSeries(result.resourceMetrics) }))
        }
        yield* Metrics.registerProducer(producer, () => reader).pipe(Scope.extend(scope))
      })

    if (otlpEndpoint !== undefined) yield* Effect.flatMap(otlpReader(otlpEndpoint), register)
    const prometheus = yield* Effect.cached(Effect.tap(prometheusReader, ({ reader }) => register(reader)))
    yield* Metric.set(buildInfo, 1)
    return MetricsCollection.of({
      observe: (observe) =>
        Effect.asVoid(Effect.acquireRelease(Effect.sync(() => observers.add(observe)), () => Effect.sync(() => observers.delete(observe)))),
      scrape: Effect.flatMap(prometheus, ({ reader, serializer }) =>
        Effect.map(Effect.promise(() => reader.collect()), ({ resourceMetrics }) => serializer.serialize(resourceMetrics)))
    })
  })
)
