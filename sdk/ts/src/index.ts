/**
 * Miko's TypeScript SDK (`miko/sdk`): find services' endpoints, call them with failover, and
 * register your own. Two faces over one implementation:
 *
 * - Effect: the `MikoClient` service (`MikoClient.layer(options)`, `MikoClient.pick("web")`,
 *   `MikoClient.layerHttpClient`, `MikoClient.register(...)` in a scope).
 * - Promises: `createClient(options)` → `{ endpoints, pick, fetch, register, close, … }`.
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
  type DirectoryError,
  InvalidMikoAddress,
  InvalidMikoOptions,
  InvalidRegistration,
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
export { createClient, type MikoPromiseClient, type PromiseRegistration, type ServiceFetch } from "./promise.js"
export {
  Endpoint,
  EndpointList,
  EndpointRegistration,
  EndpointStatus,
  HealthCheck,
  Protocol
} from "./wire.js"
