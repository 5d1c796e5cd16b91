/**
 * Every failure the SDK reports. Each is a tagged class (`_tag`) that is also an `Error`, so Effect
 * code matches them with `Effect.catchTag` and Promise code with `instanceof` or `error._tag`.
 */
import * as Schema from "effect/Schema"

/** Miko's address (the `address` option or `MIKO_ADDRESS`) is missing or malformed. Raised at construction. */
export class InvalidMikoAddress extends Schema.TaggedError<InvalidMikoAddress>()("InvalidMikoAddress", {
  address: Schema.String,
  message: Schema.String
}) {}

/** An option other than the address is invalid (an unknown strategy, a negative duration…). Raised at construction. */
export class InvalidMikoOptions extends Schema.TaggedError<InvalidMikoOptions>()("InvalidMikoOptions", {
  option: Schema.String,
  message: Schema.String
}) {}

/**
 * Miko could not be reached (connection refused, timeout, or a proxy answering 502/503/504).
 * Lookups report it only while no endpoint list was ever received; after that they answer from the
 * last good list and `stale` turns true.
 */
export class MikoUnreachable extends Schema.TaggedError<MikoUnreachable>()("MikoUnreachable", {
  address: Schema.String,
  message: Schema.String
}) {}

/** Miko refused the token (HTTP 401): missing where Miko requires one, unknown, or revoked. */
export class MikoUnauthorized extends Schema.TaggedError<MikoUnauthorized>()("MikoUnauthorized", {
  message: Schema.String
}) {}

/** The token is valid but lacks the role, or the service, for the call (HTTP 403). */
export class MikoForbidden extends Schema.TaggedError<MikoForbidden>()("MikoForbidden", {
  message: Schema.String
}) {}

/** Miko answered something the SDK did not expect: another status, or a body it could not read. */
export class MikoRequestError extends Schema.TaggedError<MikoRequestError>()("MikoRequestError", {
  status: Schema.Number,
  code: Schema.String,
  message: Schema.String
}) {}

/** The service is not in Miko's list, as this client's token and address kind see it. */
export class UnknownService extends Schema.TaggedError<UnknownService>()("UnknownService", {
  service: Schema.String,
  message: Schema.String
}) {}

/**
 * The service is listed, but none of its endpoints is passing (with an address of the client's
 * kind) and the client is `strict`; without `strict`, only when none has an address of its kind.
 */
export class NoHealthyEndpoint extends Schema.TaggedError<NoHealthyEndpoint>()("NoHealthyEndpoint", {
  service: Schema.String,
  message: Schema.String
}) {}

/** Miko rejected a registration (HTTP 400), or the service name is not a DNS label. */
export class InvalidRegistration extends Schema.TaggedError<InvalidRegistration>()("InvalidRegistration", {
  service: Schema.String,
  message: Schema.String
}) {}

/**
 * A request to a service failed on every endpoint tried: the transport error of the last attempt
 * (or a timeout) is the `cause`. Only `MikoClient.fetch` reports it; the Promise client rejects
 * with the cause itself, as `fetch` would.
 */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", {
  url: Schema.String,
  message: Schema.String,
  cause: Schema.Unknown
}) {}

/** The Promise client was closed. */
export class MikoClientClosed extends Schema.TaggedError<MikoClientClosed>()("MikoClientClosed", {
  message: Schema.String
}) {}

/**
 * Miko denies this token the keys asked for (HTTP 403 `kv_forbidden`): listing a prefix no read
 * rule covers, or writing a key without write access.
 */
export class KvForbidden extends Schema.TaggedError<KvForbidden>()("KvForbidden", {
  key: Schema.String,
  message: Schema.String
}) {}

/**
 * A compare-and-set write lost (HTTP 412 `kv_version_conflict`): the key's version was not the
 * one given with `ifVersion`, or a create-only write found the key already there.
 */
export class KvVersionConflict extends Schema.TaggedError<KvVersionConflict>()("KvVersionConflict", {
  key: Schema.String,
  message: Schema.String
}) {}

/** The key does not exist, was deleted, or this token may not read it (HTTP 404 `kv_key_not_found`). */
export class KvKeyNotFound extends Schema.TaggedError<KvKeyNotFound>()("KvKeyNotFound", {
  key: Schema.String,
  message: Schema.String
}) {}

/** A configuration value does not match the Schema it was read with. */
export class InvalidConfigValue extends Schema.TaggedError<InvalidConfigValue>()("InvalidConfigValue", {
  key: Schema.String,
  message: Schema.String
}) {}

/** Reading the endpoint list failed and no earlier list is at hand. */
export type DirectoryError = MikoUnreachable | MikoUnauthorized | MikoForbidden | MikoRequestError

/** Looking a service up. */
export type LookupError = DirectoryError | UnknownService

/** Choosing an endpoint of a service. */
export type PickError = LookupError | NoHealthyEndpoint

/** Registering, heartbeating or deregistering an endpoint. */
export type RegisterError = MikoUnreachable | MikoUnauthorized | MikoForbidden | MikoRequestError | InvalidRegistration

/**
 * Reading a prefix's keys failed and no earlier copy is at hand. Miko answers a denied prefix
 * with `KvForbidden`; `MikoForbidden` is only there for a 403 that a key-value route never gives.
 */
export type ConfigReadError = DirectoryError | KvForbidden

/** Writing or deleting a key. */
export type ConfigWriteError = ConfigReadError | KvVersionConflict | KvKeyNotFound
