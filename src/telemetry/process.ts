import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import { constants, monitorEventLoopDelay, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks"
import { MetricsCollection } from "./metrics.js"

const cpu = Metric.counter("miko_process_cpu_seconds_total", { description: "CPU time this process used, by mode (user, system)", incremental: true })
const cpuUser = Metric.tagged(cpu, "mode", "user")
const cpuSystem = Metric.tagged(cpu, "mode", "system")
const resident = Metric.gauge("miko_process_resident_memory_bytes", { description: "Resident set size" })
const heapUsed = Metric.gauge("miko_process_heap_used_bytes", { description: "V8 heap in use" })
const heapTotal = Metric.gauge("miko_process_heap_total_bytes", { description: "V8 heap reserved" })
const external = Metric.gauge("miko_process_external_memory_bytes", { description: "Memory of C++ objects bound to JavaScript (buffers included)" })
const startTime = Metric.gauge("miko_process_start_time_seconds", { description: "When the process started, in seconds since the Unix epoch" })
const lagMean = Metric.gauge("miko_process_event_loop_delay_mean_seconds", { description: "Mean event-loop delay since the previous collection" })
const lagP99 = Metric.gauge("miko_process_event_loop_delay_p99_seconds", { description: "99th percentile of the event-loop delay since the previous collection" })
const lagMax = Metric.gauge("miko_process_event_loop_delay_max_seconds", { description: "Longest event-loop delay since the previous collection" })
const gc = Metric.histogram(
  "miko_process_gc_duration_seconds",
  MetricBoundaries.fromIterable([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
  "Garbage collection pauses, by kind (minor, major, incremental, weakcb)"
)

const gcKinds: ReadonlyMap<number, string> = new Map([
  [constants.NODE_PERFORMANCE_GC_MINOR, "minor"],
  [constants.NODE_PERFORMANCE_GC_MAJOR, "major"],
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL, "incremental"],
  [constants.NODE_PERFORMANCE_GC_WEAKCB, "weakcb"]
])
const gcByKind = new Map([...gcKinds.values()].map((kind) => [kind, Metric.tagged(gc, "kind", kind)] as const))

/** The kind of a "gc" entry: Node gives it in `detail`, which its types leave out of PerformanceEntry. */
const gcKindOf = (entry: PerformanceEntry): string | undefined => {
  const detail: unknown = "detail" in entry ? entry.detail : undefined
  const kind = typeof detail === "object" && detail !== null && "kind" in detail ? detail.kind : undefined
  return typeof kind === "number" ? gcKinds.get(kind) : undefined
}

const seconds = (nanos: number) => (Number.isFinite(nanos) ? nanos / 1e9 : 0)

/**
 * CPU, memory, event-loop delay and garbage collection of this process. CPU and memory are read
 * when a collection asks; the event-loop delay is sampled all along (every 20 ms) and reported per
 * interval between collections; each GC pause is recorded as Node reports it.
 */
export const layerProcessMetrics: Layer.Layer<never, never, MetricsCollection> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const collection = yield* MetricsCollection
    const delay = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const histogram = monitorEventLoopDelay({ resolution: 20 })
        histogram.enable()
        return histogram
      }),
      (histogram) => Effect.sync(() => histogram.disable())
    )
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        const observer = new PerformanceObserver((list) => {
          for (const entry of list.getEntries()) {
            const kind = gcKindOf(entry)
            if (kind !== undefined) gcByKind.get(kind)?.unsafeUpdate(entry.duration / 1000, [])
          }
        })
        observer.observe({ entryTypes: ["gc"] })
        return observer
      }),
      (observer) => Effect.sync(() => observer.disconnect())
    )
    yield* Effect.forEach(gcByKind.values(), (series) => Metric.value(series), { discard: true })
    yield* Metric.set(startTime, Math.round(Date.now() - performance.now()) / 1000)
    let cpuSeen = { user: 0, system: 0 }
    yield* collection.observe(Effect.gen(function*() {
      const used = process.cpuUsage()
      yield* Metric.incrementBy(cpuUser, (used.user - cpuSeen.user) / 1e6)
      yield* Metric.incrementBy(cpuSystem, (used.system - cpuSeen.system) / 1e6)
      cpuSeen = used
      const memory = process.memoryUsage()
      yield* Metric.set(resident, memory.rss)
      yield* Metric.set(heapUsed, memory.heapUsed)
      yield* Metric.set(heapTotal, memory.heapTotal)
      yield* Metric.set(external, memory.external)
      yield* Metric.set(lagMean, seconds(delay.mean))
      yield* Metric.set(lagP99, seconds(delay.percentile(99)))
      yield* Metric.set(lagMax, seconds(delay.max))
      delay.reset()
    }))
  })
)
