import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type { ExecutionStatus } from "./model.js"

/**
 * The scheduler's metrics. They reach OpenTelemetry through the telemetry layer when an OTLP
 * endpoint is configured, and stay in-process otherwise.
 */
export const running = Metric.gauge("miko_scheduler_running", { description: "Attempts holding a slot now" })

export const queued = Metric.gauge("miko_scheduler_queued", { description: "Ready attempts waiting for a slot" })

const runs = Metric.counter("miko_scheduler_runs_total", {
  description: "Ended attempts and skipped firings, by status",
  incremental: true
})

const runsByStatus: Record<ExecutionStatus, Metric.Metric.Counter<number>> = {
  running: Metric.tagged(runs, "status", "running"),
  succeeded: Metric.tagged(runs, "status", "succeeded"),
  failed: Metric.tagged(runs, "status", "failed"),
  "timed-out": Metric.tagged(runs, "status", "timed-out"),
  interrupted: Metric.tagged(runs, "status", "interrupted"),
  skipped: Metric.tagged(runs, "status", "skipped")
}

export const countRun = (status: ExecutionStatus) => Metric.increment(runsByStatus[status])

export const duration = Metric.histogram(
  "miko_scheduler_run_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 20 }),
  "How long attempts ran"
)

export const lateness = Metric.histogram(
  "miko_scheduler_trigger_lateness_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 20 }),
  "How long after its due instant an attempt started, waiting for a slot included"
)

/** Every series at zero, so that a scrape shows them before the first run. */
export const initialize = Effect.all([
  ...Object.values(runsByStatus).map((series) => Metric.value(series)),
  Metric.value(duration),
  Metric.value(lateness)
], { discard: true })
