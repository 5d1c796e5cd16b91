export { ConfigKeyUnknown, ConfigLoadError, ConfigValueInvalid } from "./errors.js"
export { type ConfigKey, type ConfigSection, configKeys, configKeysByDotted, configTree, envVarOf, isSection } from "./keys.js"
export { BaseConfig, layerFromFiles, layerFromObject, type LoadOptions, searchPath } from "./load.js"
export { parseConfigText, stripJsonComments } from "./parse.js"
export { type ConfigInputs, readEnv, type ResolvedConfig, resolveConfig, type Source } from "./resolve.js"
export {
  defaultConfig,
  type MikoConfig,
  type MikoConfigEncoded,
  MikoConfigSchema,
  RestartRequired,
  Role,
  Secret,
  StaticEndpoint,
  TokenSpec
} from "./schema.js"
export { ConfigEntry, ConfigService, ConfigSnapshot, layer, redactedConfig } from "./service.js"
export { ConfigStore, layerMemory as layerStoreMemory, layerSql as layerStoreSql } from "./store.js"
