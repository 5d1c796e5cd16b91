/**
 * Miko as a library. Each capability is a namespace with its Tag, its layers, its Schemas and
 * its errors; `layerService` is the whole standalone service, as `miko serve` runs it.
 * Importing this module (or any subpath) has no side effects: nothing is read, opened or started
 * until a layer is built.
 */
export * as Auth from "./auth/index.js"
export * as Cluster from "./cluster/index.js"
export * as Config from "./config/index.js"
export * as Http from "./http/index.js"
export * as Registry from "./registry/index.js"
export * as Scheduler from "./scheduler/index.js"
export * as Storage from "./storage/index.js"
export * as Telemetry from "./telemetry/index.js"
export * as WebSocket from "./websocket/index.js"
export { layerCluster, layerCore, layerDatabaseFromConfig, layerEmbedded, layerRegistry, layerService, runService, type ServiceOptions } from "./service.js"
export { Environment, type EnvironmentVariables } from "./shared/environment.js"
export { version } from "./shared/version.js"
