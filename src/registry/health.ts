import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { connect } from "node:net"
import { Cluster } from "../cluster/service.js"
import type { EndpointStatus, HealthCheck } from "./model.js"
import type { EndpointRecord } from "./record.js"
import { countCheckResult } from "./metrics.js"
import { Registry, type RegistryState } from "./service.js"

const defaults = { interval: Duration.seconds(10), timeout: Duration.seconds(2), healthyThreshold: 1, unhealthyThreshold: 2 }

/** How often leases are looked at: the resolution of ttl expiry. */
const leaseSweep = Schedule.spaced(Duration.millis(250))
/** How often the shared change log is cut back. */
const logTrim = Schedule.spaced(Duration.minutes(1))

const tcpProbe = (address: string) => {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? new URL(address) : new URL(`tcp://${address}`)
  return Effect.async<void, Error>((resume) => {
    const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port) })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.void)
    })
    socket.once("error", (error) => resume(Effect.fail(error)))
    return Effect.sync(() => socket.destroy())
  })
}

const httpProbe = (url: string) =>
  HttpClient.get(url).pipe(
    Effect.flatMap((response) =>
      response.status >= 200 && response.status < 300
        ? Effect.void
        : Effect.fail(new Error(`answered ${response.status}`))
    ),
    Effect.scoped
  )

/** One probe: succeeds when the endpoint is healthy. */
const probe = (check: HealthCheck) =>
  (check.http !== undefined ? httpProbe(check.http) : tcpProbe(check.tcp!)).pipe(
    Effect.timeoutFail({ duration: check.timeout ?? defaults.timeout, onTimeout: () => new Error("timed out") })
  )

interface Tally {
  readonly successes: number
  readonly failures: number
  readonly status: EndpointStatus
}

/** Thresholds turn single probe results into a status: a first failure only warns. */
const nextTally = (tally: Tally, ok: boolean, check: HealthCheck): Tally => {
  const healthy = check.healthyThreshold ?? defaults.healthyThreshold
  const unhealthy = check.unhealthyThreshold ?? defaults.unhealthyThreshold
  if (ok) {
    const successes = tally.successes + 1
    return { successes, failures: 0, status: successes >= healthy ? "passing" : tally.status }
  }
  const failures = tally.failures + 1
  return {
    successes: 0,
    failures,
    status: failures >= unhealthy ? "critical" : tally.status === "passing" ? "warning" : tally.status
  }
}

const runCheck = (registry: Registry["Type"], id: string, check: HealthCheck, initial: EndpointStatus) =>
  Effect.gen(function*() {
    const tally = yield* Ref.make<Tally>({ successes: 0, failures: 0, status: initial })
    const startedAt = yield* Clock.currentTimeMillis
    const grace = Duration.toMillis(check.interval ?? defaults.interval)
    const once = Effect.gen(function*() {
      const ok = yield* probe(check).pipe(Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
      yield* countCheckResult(check.http !== undefined ? "http" : "tcp", ok)
      // Checking starts over when Miko starts or takes over: for one interval a failure may be
      // Miko's own network coming up, so the status the endpoint had stands; a success counts.
      if (!ok && (yield* Clock.currentTimeMillis) - startedAt < grace) return
      const next = yield* Ref.updateAndGet(tally, (t) => nextTally(t, ok, check))
      yield* registry.setCheckStatus(id, next.status)
    }).pipe(Effect.catchAll((error) => Effect.logError(`health check of ${id} not recorded: ${error.message}`)))
    yield* Effect.repeat(once, Schedule.spaced(check.interval ?? defaults.interval))
  }).pipe(Effect.provide(FetchHttpClient.layer))

/**
 * Lease expiry and active health checks, in the background: a sweep on a Schedule for leases,
 * and one fiber per checked endpoint, started and stopped as the directory changes. Request
 * handling never waits on either. Both are cluster-wide work: they run on the leader only, and
 * count from when it took over (its start, alone on SQLite): a restart alone changes no status.
 */
export const layerHealth: Layer.Layer<never, never, Registry | Cluster> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const registry = yield* Registry
    const cluster = yield* Cluster
    yield* cluster.whileLeader("lease expiry", Effect.all([
      Effect.flatMap(Clock.currentTimeMillis, (takeover) =>
        registry.expireLeases(takeover).pipe(
          Effect.catchAll((error) => Effect.logError(`lease expiry failed: ${error.message}`)),
          Effect.repeat(leaseSweep)
        )),
      registry.trimLog.pipe(
        Effect.catchAll((error) => Effect.logWarning(`change log not trimmed: ${error.message}`)),
        Effect.repeat(logTrim)
      )
    ], { concurrency: "unbounded", discard: true }))
    yield* cluster.whileLeader("health checks", healthChecks(registry))
  })
)

type Wanted = { readonly check: HealthCheck; readonly key: string; readonly status: EndpointStatus }

const wantedOf = (record: EndpointRecord | undefined): Wanted | undefined => {
  const check = record?.registration.check
  return check === undefined ? undefined : { check, key: JSON.stringify(check), status: record?.checkStatus ?? "critical" }
}

/**
 * One fiber per checked endpoint, started and stopped as the directory changes. A change
 * that follows the last one seen touches only its own endpoint, so a write costs the same
 * with ten endpoints or a hundred thousand; anything else (a reload, a skipped index) compares
 * the whole directory.
 */
const healthChecks = (registry: Registry["Type"]) =>
  Effect.scoped(Effect.gen(function*() {
    const checks = yield* FiberMap.make<string>()
    const running = new Map<string, string>()
    const follow = (id: string, wanted: Wanted | undefined) =>
      Effect.gen(function*() {
        if (wanted === undefined) {
          if (running.delete(id)) yield* FiberMap.remove(checks, id)
          return
        }
        if (running.get(id) === wanted.key) return
        running.set(id, wanted.key)
        yield* FiberMap.run(checks, id, runCheck(registry, id, wanted.check, wanted.status))
      })
    const resync = (state: RegistryState) =>
      Effect.gen(function*() {
        // Most endpoints of a large directory hold a lease and no check: only checked ones start a fiber.
        for (const [id, record] of HashMap.entries(state.records)) {
          const wanted = wantedOf(record)
          if (wanted !== undefined) yield* follow(id, wanted)
        }
        for (const id of [...running.keys()]) if (wantedOf(Option.getOrUndefined(HashMap.get(state.records, id))) === undefined) yield* follow(id, undefined)
      })
    let last: RegistryState | undefined
    yield* registry.changes.pipe(
      Stream.runForEach((state) => {
        const previous = last
        last = state
        const change = state.change
        return previous !== undefined && change !== undefined && state.index === previous.index + 1
          ? follow(change.endpointId, wantedOf(Option.getOrUndefined(HashMap.get(state.records, change.endpointId))))
          : resync(state)
      })
    )
  }))
