export { layerLogger } from "./logger.js"
export { layerMetrics, MetricsCollection, prometheusContentType } from "./metrics.js"
export { layerOtel } from "./otel.js"
export { layerProcessMetrics } from "./process.js"
