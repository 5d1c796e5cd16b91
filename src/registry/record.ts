import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import type { StaticEndpoint } from "../config/schema.js"
import { formatMillis } from "../shared/duration.js"
import { type Endpoint, type EndpointStatus, Registration, type Visibility } from "./model.js"

/** Everything Miko keeps about an endpoint, including what callers never see. */
export interface EndpointRecord {
  readonly service: string
  readonly registration: Registration & { readonly id: string }
  readonly source: "static" | "registered"
  readonly registeredAt: number
  readonly lastSeenAt: number
  /** `critical` once the lease ran out without a heartbeat. */
  readonly leaseStatus: "passing" | "critical"
  /** The active check's verdict, when there is a check. */
  readonly checkStatus: EndpointStatus | undefined
  /** When the endpoint last turned critical; it is removed after `registry.deregisterCriticalAfter`. */
  readonly criticalSince: number | undefined
  /** The WebSocket connection an ephemeral endpoint is tied to. */
  readonly connection: string | undefined
}

const rank: Record<EndpointStatus, number> = { passing: 0, warning: 1, critical: 2 }

export const statusOf = (record: EndpointRecord): EndpointStatus => {
  const check = record.checkStatus ?? "passing"
  return rank[record.leaseStatus] >= rank[check] ? record.leaseStatus : check
}

export const statusRank = (status: EndpointStatus) => rank[status]

/** The caller's view: internal addresses only for the internal role; internal-only endpoints not at all. */
export const toEndpoint = (record: EndpointRecord, visibility: Visibility): Endpoint | undefined => {
  const r = record.registration
  if (visibility === "public" && r.publicAddress === undefined) return undefined
  return {
    id: r.id,
    service: record.service,
    ...(r.publicAddress === undefined ? {} : { publicAddress: r.publicAddress }),
    ...(visibility === "internal" && r.internalAddress !== undefined ? { internalAddress: r.internalAddress } : {}),
    protocol: r.protocol,
    weight: r.weight,
    ...(r.zone === undefined ? {} : { zone: r.zone }),
    tags: r.tags,
    metadata: r.metadata,
    status: statusOf(record),
    source: record.source,
    registeredAt: new Date(record.registeredAt).toISOString(),
    lastSeenAt: new Date(record.lastSeenAt).toISOString(),
    ...(r.ttl === undefined ? {} : { ttl: formatMillis(Duration.toMillis(r.ttl)) })
  }
}

/**
 * Moves a record's lastSeenAt forward in place: the one exception to records being values. A
 * renewed lease is no change anyone hears about, and a new record for every heartbeat of a large
 * fleet, with the directory's tree copied along its path, would be garbage for the old generation
 * the collector then has to mark and sweep (at 100,000 endpoints about a quarter of the CPU a
 * heartbeat costs). Only forward, so every reader sees a time it could have seen; what a change
 * published earlier shows of the record moves with it, as lastSeenAt means the latest heartbeat.
 */
export const renewInPlace = (record: EndpointRecord, at: number): void => {
  if (at > record.lastSeenAt) (record as { lastSeenAt: number }).lastSeenAt = at
}

/** Static endpoints get ids from their position unless config names them. */
export const staticRecords = (
  services: Readonly<Record<string, ReadonlyArray<StaticEndpoint>>>,
  now: number
): Array<EndpointRecord> =>
  Object.entries(services).flatMap(([service, endpoints]) =>
    endpoints.map((endpoint, position): EndpointRecord => ({
      service,
      registration: {
        id: endpoint.id ?? `${service}-static-${position}`,
        ...(endpoint.publicAddress === undefined ? {} : { publicAddress: endpoint.publicAddress }),
        ...(endpoint.internalAddress === undefined ? {} : { internalAddress: endpoint.internalAddress }),
        protocol: endpoint.protocol,
        weight: endpoint.weight,
        ...(endpoint.zone === undefined ? {} : { zone: endpoint.zone }),
        tags: endpoint.tags,
        metadata: endpoint.metadata
      },
      source: "static",
      registeredAt: now,
      lastSeenAt: now,
      leaseStatus: "passing",
      checkStatus: undefined,
      criticalSince: undefined,
      connection: undefined
    }))
  )

/** Two records say the same to callers (timestamps aside). */
export const sameDeclaration = (a: EndpointRecord, b: EndpointRecord) =>
  a.service === b.service && JSON.stringify(encodeRegistration(a.registration)) === JSON.stringify(encodeRegistration(b.registration))

export const encodeRegistration = Schema.encodeSync(Registration)
