import { type RegistryState, recordsOf } from "./journal.js"
import type { Endpoint, EndpointFilter, EndpointList, Visibility } from "./model.js"
import { statusRank, toEndpoint } from "./record.js"

/** Passing first, then warning, then critical; heavier first within a status; then by id, for a stable order. */
const byPreference = (a: Endpoint, b: Endpoint) =>
  statusRank(a.status) - statusRank(b.status) || b.weight - a.weight || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const matches = (endpoint: Endpoint, filter: EndpointFilter) =>
  (filter.services === undefined || filter.services.length === 0 || filter.services.includes(endpoint.service)) &&
  (filter.tag === undefined || endpoint.tags.includes(filter.tag)) &&
  (filter.zone === undefined || endpoint.zone === filter.zone) &&
  (filter.status === undefined || endpoint.status === filter.status)

/** The endpoints a caller may see, filtered, grouped by service and ordered by preference. */
export const visibleEndpoints = (
  state: Pick<RegistryState, "records" | "byService">,
  visibility: Visibility,
  filter: EndpointFilter = {}
): Record<string, Array<Endpoint>> => {
  const services: Record<string, Array<Endpoint>> = {}
  for (const record of recordsOf(state, filter.services)) {
    const endpoint = toEndpoint(record, visibility)
    if (endpoint === undefined || !matches(endpoint, filter)) continue
    ;(services[endpoint.service] ??= []).push(endpoint)
  }
  const sorted: Record<string, Array<Endpoint>> = {}
  for (const name of Object.keys(services).sort()) sorted[name] = services[name]!.sort(byPreference)
  return sorted
}

export const endpointList = (state: RegistryState, visibility: Visibility, filter: EndpointFilter): EndpointList => ({
  index: state.index,
  services: visibleEndpoints(state, visibility, filter)
})

export const summarize = (name: string, endpoints: ReadonlyArray<Endpoint>) => ({
  name,
  endpoints: endpoints.length,
  passing: endpoints.filter((e) => e.status === "passing").length,
  warning: endpoints.filter((e) => e.status === "warning").length,
  critical: endpoints.filter((e) => e.status === "critical").length
})

/** `GET /v1/services`: each service the caller may see, counted by status, in name order. */
export const serviceSummaries = (state: Pick<RegistryState, "records" | "byService">, visibility: Visibility) =>
  Object.entries(visibleEndpoints(state, visibility)).map(([name, endpoints]) => summarize(name, endpoints))
