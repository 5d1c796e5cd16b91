/**
 * Miko's TypeScript SDK (`miko/sdk`): find services' endpoints, call them with failover,
 * register your own, and follow the fleet's configuration keys. Two faces over one implementation:
 *
 * - Effect: the `MikoClient` service (`MikoClient.layer(options)`, `MikoClient.pick("web")`,
 *   `MikoClient.layerHttpClient`, `MikoClient.register(...)` and `MikoClient.config("billing/")` in a scope).
 * - Promises: `createClient(options)` → `{ endpoints, pick, fetch, register, config, close, … }`.
 *
 * It speaks Miko's HTTP protocol only and imports nothing of the server.
 */
export {
  isPickError,
  MikoClient,
  type MikoClientService,
  type PickedEndpoint,
  type Registration,
  type ResolveError
} from "./client.js"
export {
  type ConfigReadError,
  type ConfigWriteError,
  type DirectoryError,
  InvalidConfigValue,
  InvalidMikoAddress,
  InvalidMikoOptions,
  InvalidRegistration,
  KvForbidden,
  KvKeyNotFound,
  KvVersionConflict,
  type LookupError,
  MikoClientClosed,
  MikoForbidden,
  MikoRequestError,
  MikoUnauthorized,
  MikoUnreachable,
  NoHealthyEndpoint,
  type PickError,
  type RegisterError,
  RequestFailed,
  UnknownService
} from "./errors.js"
export {
  type AddressKind,
  type DurationOption,
  type MikoClientOptions,
  type MikoDuration,
  type Strategy,
  type TlsOptions
} from "./options.js"
export { type DeleteOptions, type SetOptions } from "./kv-api.js"
export { type ConfigChange, type ConfigEntry, type ConfigSnapshot, type MikoConfig } from "./kv-config.js"
export { type MikoPromiseConfig } from "./promise-config.js"
export { createClient, type MikoPromiseClient, type PromiseRegistration, type ServiceFetch } from "./promise.js"
export {
  Endpoint,
  EndpointList,
  EndpointRegistration,
  EndpointStatus,
  HealthCheck,
  KvItem,
  KvList,
  KvWritten,
  Protocol
} from "./wire.js"
