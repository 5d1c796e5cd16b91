import type { Directory, Endpoint, EndpointEvent } from "./types.js"

/** The endpoint directory as the console holds it: the last index seen and every visible endpoint. */
export interface DirectoryState {
  readonly index: number
  readonly services: Directory
}

const statusRank = { passing: 0, warning: 1, critical: 2 } as const

/** As Miko orders them: passing first, heavier first, then by id. */
const byPreference = (a: Endpoint, b: Endpoint) =>
  statusRank[a.status] - statusRank[b.status] || b.weight - a.weight || a.id.localeCompare(b.id)

const withEndpoint = (services: Directory, service: string, id: string, endpoint: Endpoint | undefined): Directory => {
  const others = (services[service] ?? []).filter((e) => e.id !== id)
  const next = endpoint === undefined ? others : [...others, endpoint].sort(byPreference)
  const { [service]: _previous, ...rest } = services
  return next.length === 0 ? rest : { ...rest, [service]: next }
}

/**
 * Applies one event of the `endpoints` topic. A change whose endpoint the caller may not see
 * (no public address, and no `internal` role) comes without one: the endpoint is dropped.
 */
export const applyEndpointEvent = (state: DirectoryState, event: EndpointEvent): DirectoryState => {
  if (event.type === "snapshot") return { index: event.index, services: event.services }
  const endpoint = event.type === "deregistered" ? undefined : event.endpoint
  return { index: event.index, services: withEndpoint(state.services, event.service, event.endpointId, endpoint) }
}

export interface ServiceCounts {
  readonly name: string
  readonly passing: number
  readonly warning: number
  readonly critical: number
  readonly tags: ReadonlyArray<string>
  readonly zones: ReadonlyArray<string>
}

export const countsOf = (name: string, endpoints: ReadonlyArray<Endpoint>): ServiceCounts => ({
  name,
  passing: endpoints.filter((e) => e.status === "passing").length,
  warning: endpoints.filter((e) => e.status === "warning").length,
  critical: endpoints.filter((e) => e.status === "critical").length,
  tags: [...new Set(endpoints.flatMap((e) => e.tags))].sort(),
  zones: [...new Set(endpoints.flatMap((e) => (e.zone === undefined ? [] : [e.zone])))].sort()
})
