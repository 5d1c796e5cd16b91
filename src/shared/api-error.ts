import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Predicate from "effect/Predicate"
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

/** The inside of the envelope, as HTTP answers and WebSocket results both carry it. */
export interface ErrorBody {
  readonly code: string
  readonly message: string
}

/** A failure that is a tagged error: the shape the envelope is made from. */
export interface TaggedFailure {
  readonly _tag: string
  readonly message?: unknown
}

export const isTaggedFailure = (value: unknown): value is TaggedFailure =>
  Predicate.hasProperty(value, "_tag") && Predicate.isString(value._tag)

/** A tagged error's code and message (its tag when it has no message). */
export const errorBodyOf = (error: TaggedFailure): ErrorBody => ({
  code: errorCode(error._tag),
  message: Predicate.isString(error.message) ? error.message : error._tag
})

/** What a failure nobody declared is answered with; the details go to the log. */
export const internalErrorBody: ErrorBody = { code: "internal", message: "internal error; see the server log" }

/** An HTTP answer carrying the envelope. */
export const errorResponse = (status: number, code: string, message: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson({ error: { code, message } }, { status })
