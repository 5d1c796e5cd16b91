import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

/** The configuration could not be loaded: which file or variable, which key, what was expected and found. */
export class ConfigLoadError extends Schema.TaggedError<ConfigLoadError>()("ConfigLoadError", {
  message: Schema.String
}) {}

export class ConfigKeyUnknown extends Schema.TaggedError<ConfigKeyUnknown>()(
  "ConfigKeyUnknown",
  { key: Schema.String, message: Schema.String },
  apiErrorAnnotations(404)
) {}

export class ConfigValueInvalid extends Schema.TaggedError<ConfigValueInvalid>()(
  "ConfigValueInvalid",
  { key: Schema.String, message: Schema.String },
  apiErrorAnnotations(400)
) {}
