import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"

const requests = MetricKey.counter("miko_http_requests_total", {
  description: "HTTP requests answered, by route template, method and status",
  incremental: true
})

// Up to five minutes: a blocking query waits up to registry.maxWait before it is answered.
const duration = MetricKey.histogram(
  "miko_http_request_duration_seconds",
  MetricBoundaries.fromIterable([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 60, 300]),
  "How long HTTP requests took to answer, by route template and method; blocking queries include their wait"
)

/** The label of a request no route matched: its path is never a label. */
export const unmatchedRoute = "unmatched"

/** Records one answered request: the route is a template (`/v1/services/:service`), never the URL. */
export type RecordRequest = (route: string, method: string, status: number, seconds: number) => void

const labels = (pairs: Record<string, string>) => Object.entries(pairs).map(([name, value]) => MetricLabel.make(name, value))

/**
 * The series of one route, method and status, made from keys that carry their labels: an update
 * then goes straight to its hook (`Metric.tagged` would join the labels and look the series up
 * on every update).
 */
const seriesOf = (route: string, method: string, status: number) => ({
  count: Metric.fromMetricKey(MetricKey.taggedWithLabels(requests, labels({ route, method, status: String(status) }))),
  time: Metric.fromMetricKey(MetricKey.taggedWithLabels(duration, labels({ route, method })))
})

/**
 * A recorder of HTTP requests. The series of each route, method and status are made once and
 * kept, so that a request costs two plain updates: the read fast path calls it outside any fiber.
 * WebSocket sessions last as long as the connection: they are counted, not timed.
 */
export const makeRequestRecorder = (): RecordRequest => {
  const known = new Map<string, ReturnType<typeof seriesOf>>()
  return (route, method, status, seconds) => {
    const id = `${method} ${status} ${route}`
    let found = known.get(id)
    if (found === undefined) {
      found = seriesOf(route, method, status)
      known.set(id, found)
    }
    found.count.unsafeUpdate(1, [])
    if (route !== "/v1/ws") found.time.unsafeUpdate(seconds, [])
  }
}
