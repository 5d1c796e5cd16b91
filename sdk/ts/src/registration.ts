/** Self-registration as a scoped resource: registered, heartbeated, and deregistered when the scope closes. */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { isServiceName } from "./address.js"
import type { MikoApi } from "./api.js"
import { InvalidRegistration, type RegisterError } from "./errors.js"
import { decodeDuration, type DurationOption } from "./options.js"
import type { Endpoint, EndpointRegistration } from "./wire.js"

/** A registered endpoint, heartbeated until its scope closes. */
export interface Registration {
  readonly service: string
  readonly id: string
  /** The endpoint as Miko last answered it (to the registration or a heartbeat). */
  readonly endpoint: Effect.Effect<Endpoint>
}

export const defaultTtl = "15s"

/**
 * Registers `endpoint` of `service` with a lease of `ttl`, heartbeats it every ttl/3 (registering
 * it again when Miko no longer knows it), and deregisters it when the scope closes.
 */
export const register = (api: MikoApi) =>
(service: string, endpoint: EndpointRegistration, ttl: DurationOption = defaultTtl): Effect.Effect<Registration, RegisterError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!isServiceName(service)) {
      return yield* new InvalidRegistration({
        service,
        message: `${JSON.stringify(service)} is not a service name: lower-case letters, digits and hyphens (a DNS label)`
      })
    }
    const lease = decodeDuration(ttl)
    if (lease === undefined || Duration.toMillis(lease) <= 0) {
      return yield* new InvalidRegistration({ service, message: `ttl: expected a duration longer than zero, found ${JSON.stringify(ttl)}` })
    }
    // Registered and released as one step: an interruption cannot leave the endpoint behind.
    const first = yield* Effect.acquireRelease(api.register(service, endpoint, lease), (registered) =>
      api.deregister(service, registered.id).pipe(
        Effect.tapError((error) => Effect.logDebug(`endpoint ${registered.id} of ${service} not deregistered: ${error.message}`)),
        Effect.ignore
      ))
    const id = first.id
    const latest = yield* Ref.make(first)
    const heartbeat = api.heartbeat(service, id).pipe(
      // Miko removed it (critical for too long, or its store was reset): register it again, same id.
      Effect.catchIf((error) => Predicate.isTagged(error, "MikoRequestError") && error.status === 404, () => api.register(service, { ...endpoint, id }, lease)),
      Effect.flatMap((answer) => Ref.set(latest, answer)),
      // A missed heartbeat is retried at the next one; the lease allows two more.
      Effect.catchAll((error) => Effect.logDebug(`heartbeat of ${id} in ${service} failed: ${error.message}`))
    )
    const period = Duration.millis(Math.max(1, Duration.toMillis(lease) / 3))
    yield* heartbeat.pipe(
      Effect.repeat(Schedule.spaced(period)),
      Effect.delay(period),
      Effect.annotateLogs("package", "miko/sdk"),
      Effect.forkScoped
    )
    return { service, id, endpoint: Ref.get(latest) }
  })
