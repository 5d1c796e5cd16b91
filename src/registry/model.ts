import * as Schema from "effect/Schema"
import { Address, hasAnAddress, Protocol, ServiceName } from "../shared/address.js"
import { PositiveDurationString } from "../shared/duration.js"

export const EndpointStatus = Schema.Literal("passing", "warning", "critical").annotations({ identifier: "EndpointStatus" })
export type EndpointStatus = typeof EndpointStatus.Type

export const EndpointSource = Schema.Literal("static", "registered").annotations({ identifier: "EndpointSource" })
export type EndpointSource = typeof EndpointSource.Type

export const EndpointId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, {
    message: (issue) =>
      `Expected an endpoint id of letters, digits, ".", "_", ":" or "-" (at most 128), found ${JSON.stringify(issue.actual)}`
  })
).annotations({ identifier: "EndpointId" })

const Threshold = Schema.Int.pipe(Schema.between(1, 10))

/** An active health check run by Miko against the endpoint. */
export const HealthCheck = Schema.Struct({
  http: Schema.optionalWith(Address, { exact: true }).annotations({ description: "URL that must answer 2xx" }),
  tcp: Schema.optionalWith(Address, { exact: true }).annotations({ description: "host:port that must accept a connection" }),
  interval: Schema.optionalWith(PositiveDurationString, { exact: true }),
  timeout: Schema.optionalWith(PositiveDurationString, { exact: true }),
  healthyThreshold: Schema.optionalWith(Threshold, { exact: true }),
  unhealthyThreshold: Schema.optionalWith(Threshold, { exact: true })
}).pipe(
  Schema.filter((check) =>
    (check.http === undefined) !== (check.tcp === undefined) || "Expected exactly one of check.http or check.tcp"
  )
).annotations({ identifier: "HealthCheck" })
export type HealthCheck = typeof HealthCheck.Type

const Tags = Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))).pipe(Schema.maxItems(64))
const Metadata = Schema.Record({ key: Schema.String.pipe(Schema.maxLength(128)), value: Schema.String.pipe(Schema.maxLength(1024)) })

/** `POST /v1/services/{service}/endpoints`: what a service says about one of its endpoints. */
export const Registration = Schema.Struct({
  id: Schema.optionalWith(EndpointId, { exact: true }).annotations({
    description: "Stable id; registering the same id again updates the endpoint. Generated when absent"
  }),
  publicAddress: Schema.optionalWith(Address, { exact: true }),
  internalAddress: Schema.optionalWith(Address, { exact: true }),
  protocol: Schema.optionalWith(Protocol, { default: () => "http" as const }),
  weight: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1000)), { default: () => 1 }),
  zone: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64)), { exact: true }),
  tags: Schema.optionalWith(Tags, { default: () => [] }),
  metadata: Schema.optionalWith(Metadata, { default: () => ({}) }),
  ttl: Schema.optionalWith(PositiveDurationString, { exact: true }).annotations({
    description: "Lease: without a heartbeat within this time the endpoint turns critical"
  }),
  check: Schema.optionalWith(HealthCheck, { exact: true })
}).pipe(Schema.filter(hasAnAddress)).annotations({ identifier: "Registration" })
export type Registration = typeof Registration.Type

/** One endpoint as callers see it. `internalAddress` is present only for callers with the internal role. */
export const Endpoint = Schema.Struct({
  id: Schema.String,
  service: ServiceName,
  publicAddress: Schema.optionalWith(Schema.String, { exact: true }),
  internalAddress: Schema.optionalWith(Schema.String, { exact: true }),
  protocol: Protocol,
  weight: Schema.Int,
  zone: Schema.optionalWith(Schema.String, { exact: true }),
  tags: Schema.Array(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.String }),
  status: EndpointStatus,
  source: EndpointSource,
  registeredAt: Schema.String,
  lastSeenAt: Schema.String,
  ttl: Schema.optionalWith(Schema.String, { exact: true })
}).annotations({ identifier: "Endpoint" })
export type Endpoint = typeof Endpoint.Type

/** `GET /v1/endpoints`. */
export const EndpointList = Schema.Struct({
  index: Schema.Number.annotations({ description: "The change index this answer reflects; pass it back as ?index= to wait for the next change" }),
  services: Schema.Record({ key: Schema.String, value: Schema.Array(Endpoint) })
}).annotations({ identifier: "EndpointList" })
export type EndpointList = typeof EndpointList.Type

export const ServiceSummary = Schema.Struct({
  name: Schema.String,
  endpoints: Schema.Int,
  passing: Schema.Int,
  warning: Schema.Int,
  critical: Schema.Int
}).annotations({ identifier: "ServiceSummary" })

/** Mass-expiry protection as the leader sees it (docs/protection.md). */
export const LeaseProtection = Schema.Struct({
  active: Schema.Boolean.annotations({ description: "Whether leases are kept: neither expired nor removed" }),
  threshold: Schema.Number.annotations({ description: "registry.protection.threshold (0: protection is off)" }),
  leased: Schema.Int.annotations({ description: "Endpoints with a lease that count: passing, or lapsed within the last ttl" }),
  lapsing: Schema.Int.annotations({ description: "Those lapsed within the last ttl, or silent for over 0.6 of their ttl" })
}).annotations({ identifier: "LeaseProtection" })

export const ServiceList = Schema.Struct({
  index: Schema.Number,
  services: Schema.Array(ServiceSummary),
  protection: LeaseProtection
}).annotations({ identifier: "ServiceList" })

export const ServiceDetail = Schema.Struct({
  index: Schema.Number,
  service: ServiceSummary,
  endpoints: Schema.Array(Endpoint)
}).annotations({ identifier: "ServiceDetail" })

/** What callers may see of an endpoint. */
export type Visibility = "public" | "internal"

/** Which endpoints a list asks for. */
export interface EndpointFilter {
  readonly services?: ReadonlyArray<string> | undefined
  readonly tag?: string | undefined
  readonly zone?: string | undefined
  readonly status?: EndpointStatus | undefined
}

/** One change to the directory, in index order. */
export const RegistryChange = Schema.Struct({
  index: Schema.Number,
  type: Schema.Literal("registered", "updated", "deregistered", "status"),
  service: Schema.String,
  endpointId: Schema.String
}).annotations({ identifier: "RegistryChange" })
export type RegistryChange = typeof RegistryChange.Type
