import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

const requests = Metric.counter("miko_http_requests_total", {
  description: "HTTP requests answered, by route template, method and status",
  incremental: true
})

// Up to five minutes: a blocking query waits up to registry.maxWait before it is answered.
const duration = Metric.histogram(
  "miko_http_request_duration_seconds",
  MetricBoundaries.fromIterable([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30, 60, 300]),
  "How long HTTP requests took to answer, by route template and method; blocking queries include their wait"
)

/** The label of a request no route matched: its path is never a label. */
export const unmatchedRoute = "unmatched"

/** Records one answered request: the route is a template (`/v1/services/:service`), never the URL. */
export type RecordRequest = (route: string, method: string, status: number, seconds: number) => void

/**
 * A recorder of HTTP requests. Tagged series are built once per route, method and status and
 * kept, so that a request costs two plain updates: the read fast path calls it outside any fiber.
 * WebSocket sessions last as long as the connection: they are counted, not timed.
 */
export const makeRequestRecorder = (): RecordRequest => {
  const series = new Map<string, { readonly count: Metric.Metric.Counter<number>; readonly time: typeof duration }>()
  return (route, method, status, seconds) => {
    const key = `${method} ${status} ${route}`
    let found = series.get(key)
    if (found === undefined) {
      found = {
        count: requests.pipe(Metric.tagged("route", route), Metric.tagged("method", method), Metric.tagged("status", String(status))),
        time: duration.pipe(Metric.tagged("route", route), Metric.tagged("method", method))
      }
      series.set(key, found)
    }
    found.count.unsafeUpdate(1, [])
    if (route !== "/v1/ws") found.time.unsafeUpdate(seconds, [])
  }
}
