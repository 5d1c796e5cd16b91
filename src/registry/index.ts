export { EndpointConflict, EndpointNotFound, ServiceNotFound } from "./errors.js"
export { layerMetrics } from "./endpoint-gauges.js"
export { layerHealth } from "./health.js"
export { layerRegistryHandlers, RegistryApi } from "./http.js"
export {
  Endpoint,
  type EndpointFilter,
  EndpointId,
  EndpointList,
  EndpointSource,
  EndpointStatus,
  HealthCheck,
  LeaseProtection,
  Registration,
  RegistryChange,
  ServiceDetail,
  ServiceList,
  ServiceSummary,
  type Visibility
} from "./model.js"
export { type EndpointRecord, statusOf, toEndpoint } from "./record.js"
export { layer as layerRendered, type ListQuery, RenderedReads, type RenderedList } from "./rendered.js"
export { layer, Registry, type RegistryState } from "./service.js"
export { layerSql as layerStoreSql, RegistryStore } from "./store.js"
