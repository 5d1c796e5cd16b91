import * as Effect from "effect/Effect"
import { Caller, type CallerInfo, hasRole, requireService } from "../auth/caller.js"
import { Unauthorized } from "../auth/errors.js"
import { ConfigService } from "../config/service.js"
import type { EndpointFilter, Registration, Visibility } from "./model.js"
import { countDeregistration, countRegistration } from "./metrics.js"
import { Registry } from "./service.js"

/**
 * The registry's operations as callers reach them, with their access rules. The HTTP handlers
 * and the WebSocket commands both call these, so the two agree by construction.
 */

/**
 * Internal addresses need the internal role; `registry.publicRead: false` needs a token for any
 * read (undefined: this caller may not read).
 */
export const visibilityFor = (caller: CallerInfo, publicRead: boolean): Visibility | undefined =>
  hasRole(caller, "internal") ? "internal" : caller.name === undefined && !publicRead ? undefined : "public"

export const visibility = Effect.gen(function*() {
  const caller: CallerInfo = yield* Caller
  const found = visibilityFor(caller, (yield* (yield* ConfigService).current).registry.publicRead)
  if (found === undefined) {
    return yield* new Unauthorized({ message: "registry.publicRead is off: reading endpoints needs a token" })
  }
  return found
})

/** Reads answer from memory; while the database is away that memory goes stale, so only for so long. */
const read = <A, E, R>(use: (registry: Registry["Type"], visibility: Visibility) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(visibility, (v) => Effect.flatMap(Registry, (registry) => Effect.zipRight(registry.checkFresh, use(registry, v))))

export const listEndpoints = (filter: EndpointFilter) => read((registry, v) => registry.list(filter, v))

export const listServices = read((registry, v) => registry.services(v))

export const getService = (name: string) => read((registry, v) => registry.service(name, v))

export const registerEndpoint = (service: string, registration: Registration, options?: { readonly connection?: string | undefined }) =>
  Effect.zipRight(requireService(service), Effect.flatMap(Registry, (registry) => registry.register(service, registration, options))).pipe(
    Effect.tap(({ created }) => countRegistration(created))
  )

export const heartbeatEndpoint = (service: string, id: string) =>
  Effect.zipRight(requireService(service), Effect.flatMap(Registry, (registry) => registry.heartbeat(service, id)))

export const deregisterEndpoint = (service: string, id: string) =>
  Effect.zipRight(requireService(service), Effect.flatMap(Registry, (registry) => registry.deregister(service, id))).pipe(
    Effect.tap(() => countDeregistration("request"))
  )
