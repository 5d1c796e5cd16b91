export { ClusterApi, ClusterStatus, layerClusterHandlers, ReplicaStatus } from "./http.js"
export { layerMetrics } from "./metrics.js"
export { Cluster, layer } from "./service.js"
export { ClusterStore, layerSql as layerStoreSql } from "./store.js"
