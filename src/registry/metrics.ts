import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/**
 * The directory's series, counted where the work happens (on the replica that did it). The
 * endpoints by service and status are read when a collection asks (./endpoint-gauges.ts).
 */
const registrations = Metric.counter("miko_registry_registrations_total", {
  description: "Registrations accepted, by outcome: created (a new endpoint) or updated (same id again)",
  incremental: true
})
const registrationOutcomes = {
  created: Metric.tagged(registrations, "outcome", "created"),
  updated: Metric.tagged(registrations, "outcome", "updated")
}

export const countRegistration = (created: boolean) => Metric.increment(registrationOutcomes[created ? "created" : "updated"])

const deregistrations = Metric.counter("miko_registry_deregistrations_total", {
  description: "Endpoints removed, by reason: request, critical (for longer than registry.deregisterCriticalAfter), connection (its WebSocket closed) or replica-gone",
  incremental: true
})
type DeregistrationReason = "request" | "critical" | "connection" | "replica-gone"
const deregistrationReasons: Record<DeregistrationReason, Metric.Metric.Counter<number>> = {
  request: Metric.tagged(deregistrations, "reason", "request"),
  critical: Metric.tagged(deregistrations, "reason", "critical"),
  connection: Metric.tagged(deregistrations, "reason", "connection"),
  "replica-gone": Metric.tagged(deregistrations, "reason", "replica-gone")
}

export const countDeregistration = (reason: DeregistrationReason) => Metric.increment(deregistrationReasons[reason])

export const leaseExpiries = Metric.counter("miko_registry_lease_expiries_total", {
  description: "Leases that ran out without a heartbeat, turning their endpoint critical",
  incremental: true
})

const checkResults = Metric.counter("miko_registry_check_results_total", {
  description: "Active health check probes, by kind (http, tcp) and result (success, failure)",
  incremental: true
})
const checkSeries = {
  http: { success: checkResults.pipe(Metric.tagged("kind", "http"), Metric.tagged("result", "success")), failure: checkResults.pipe(Metric.tagged("kind", "http"), Metric.tagged("result", "failure")) },
  tcp: { success: checkResults.pipe(Metric.tagged("kind", "tcp"), Metric.tagged("result", "success")), failure: checkResults.pipe(Metric.tagged("kind", "tcp"), Metric.tagged("result", "failure")) }
}

export const countCheckResult = (kind: "http" | "tcp", ok: boolean) => Metric.increment(checkSeries[kind][ok ? "success" : "failure"])

/** Blocking queries of the endpoint list parked now, on the API and the read fast path. */
export const blockingQueries = Metric.gauge("miko_registry_blocking_queries", { description: "Blocking endpoint-list queries waiting for a change now" })

/** Counts `wait` as a parked blocking query while it runs. */
export const asBlockingQuery = <A, E, R>(wait: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(Metric.increment(blockingQueries), () => wait, () => Metric.incrementBy(blockingQueries, -1))

/** Every series at zero, so that a scrape shows them before the first event. */
export const initialize = Effect.all([
  ...Object.values(registrationOutcomes).map((series) => Metric.value(series)),
  ...Object.values(deregistrationReasons).map((series) => Metric.value(series)),
  ...Object.values(checkSeries).flatMap((kind) => Object.values(kind)).map((series) => Metric.value(series)),
  Metric.value(leaseExpiries),
  Metric.value(blockingQueries)
], { discard: true })
