/**
 * Miko's wire format, as the SDK reads and writes it. These Schemas are the SDK's own: it depends
 * on the HTTP protocol only, so a newer server that adds fields still decodes (unknown fields are
 * ignored).
 */
import * as Schema from "effect/Schema"

export const EndpointStatus = Schema.Literal("passing", "warning", "critical")
export type EndpointStatus = typeof EndpointStatus.Type

/** How an endpoint is spoken to. */
export const Protocol = Schema.Literal("http", "https", "grpc", "tcp", "ws", "wss")
export type Protocol = typeof Protocol.Type

/** One endpoint as `GET /v1/endpoints` lists it. `internalAddress` only reaches tokens with the internal role. */
export const Endpoint = Schema.Struct({
  id: Schema.String,
  service: Schema.String,
  publicAddress: Schema.optionalWith(Schema.String, { exact: true }),
  internalAddress: Schema.optionalWith(Schema.String, { exact: true }),
  protocol: Schema.String,
  weight: Schema.Number,
  zone: Schema.optionalWith(Schema.String, { exact: true }),
  tags: Schema.Array(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.String }),
  status: EndpointStatus,
  source: Schema.String,
  registeredAt: Schema.String,
  lastSeenAt: Schema.String,
  ttl: Schema.optionalWith(Schema.String, { exact: true })
})
export type Endpoint = typeof Endpoint.Type

/** `GET /v1/endpoints`: every visible endpoint by service, at one change index. */
export const EndpointList = Schema.Struct({
  index: Schema.Number,
  services: Schema.Record({ key: Schema.String, value: Schema.Array(Endpoint) })
})
export type EndpointList = typeof EndpointList.Type

/** Every error answer: `{"error": {"code", "message"}}`. */
export const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({ code: Schema.String, message: Schema.String })
})

/** An active health check Miko runs against a registered endpoint (exactly one of `http` or `tcp`). */
export const HealthCheck = Schema.Struct({
  http: Schema.optionalWith(Schema.String, { exact: true }),
  tcp: Schema.optionalWith(Schema.String, { exact: true }),
  interval: Schema.optionalWith(Schema.String, { exact: true }),
  timeout: Schema.optionalWith(Schema.String, { exact: true }),
  healthyThreshold: Schema.optionalWith(Schema.Number, { exact: true }),
  unhealthyThreshold: Schema.optionalWith(Schema.Number, { exact: true })
})
export type HealthCheck = typeof HealthCheck.Type

/**
 * What a service says about one of its own endpoints when it registers
 * (`POST /v1/services/{service}/endpoints`); the lease (`ttl`) is given separately.
 * An absent `id` is chosen by Miko; heartbeats and re-registrations then use it.
 */
export const EndpointRegistration = Schema.Struct({
  id: Schema.optionalWith(Schema.String, { exact: true }),
  publicAddress: Schema.optionalWith(Schema.String, { exact: true }),
  internalAddress: Schema.optionalWith(Schema.String, { exact: true }),
  protocol: Schema.optionalWith(Protocol, { exact: true }),
  weight: Schema.optionalWith(Schema.Number, { exact: true }),
  zone: Schema.optionalWith(Schema.String, { exact: true }),
  tags: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  metadata: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true }),
  check: Schema.optionalWith(HealthCheck, { exact: true })
})
export type EndpointRegistration = typeof EndpointRegistration.Type

export const decodeEndpointList = Schema.decodeUnknown(EndpointList)
export const decodeEndpoint = Schema.decodeUnknown(Endpoint)
export const decodeErrorEnvelope = Schema.decodeUnknownOption(ErrorEnvelope)

/** One key of `GET /v1/kv?prefix=…&values=true`; `value` is absent for a secret the token may not write. */
export const KvItem = Schema.Struct({
  key: Schema.String,
  version: Schema.Number,
  index: Schema.Number,
  updatedAt: Schema.optionalWith(Schema.String, { default: () => "" }),
  updatedBy: Schema.optionalWith(Schema.String, { default: () => "" }),
  secret: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  value: Schema.optionalWith(Schema.Unknown, { exact: true })
})
export type KvItem = typeof KvItem.Type

/** `GET /v1/kv?prefix=…`: the keys under a prefix, at the last change index under it. */
export const KvList = Schema.Struct({
  prefix: Schema.String,
  index: Schema.Number,
  items: Schema.Array(KvItem)
})
export type KvList = typeof KvList.Type

/** The answer to a write (`PUT /v1/kv/{key}`) or a delete (`DELETE /v1/kv/{key}`): the key's new version. */
export const KvWritten = Schema.Struct({
  key: Schema.String,
  version: Schema.Number,
  index: Schema.Number,
  updatedAt: Schema.optionalWith(Schema.String, { exact: true }),
  updatedBy: Schema.optionalWith(Schema.String, { exact: true })
})
export type KvWritten = typeof KvWritten.Type

export const decodeKvList = Schema.decodeUnknown(KvList)
export const decodeKvWritten = Schema.decodeUnknown(KvWritten)
