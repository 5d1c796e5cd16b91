import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

/**
 * The JSON every error response carries: `{ "error": { "code", "message" } }`.
 * Errors are tagged classes in code; the HTTP edge renders them in this envelope,
 * so the OpenAPI document describes the envelope rather than the class fields.
 */
export const ErrorEnvelope = Schema.Struct({
  error: Schema.Struct({
    code: Schema.String,
    message: Schema.String
  })
}).annotations({ identifier: "Error" })

const envelopeJsonSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } }
    }
  }
}

/** Annotations for a tagged error class that is answered with `status` and the error envelope. */
export const apiErrorAnnotations = (status: number) => ({
  [HttpApiSchema.AnnotationStatus]: status,
  jsonSchema: envelopeJsonSchema
})

/** `ConfigKeyUnknown` → `config_key_unknown`: the stable `code` of an error envelope. */
export const errorCode = (tag: string): string =>
  tag.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toLowerCase()
