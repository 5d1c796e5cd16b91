export { layerLogger } from "./logger.js"
export { layerOtel } from "./otel.js"
