import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

export class ServiceNotFound extends Schema.TaggedError<ServiceNotFound>()(
  "ServiceNotFound",
  { service: Schema.String, message: Schema.String },
  apiErrorAnnotations(404)
) {}

export class EndpointNotFound extends Schema.TaggedError<EndpointNotFound>()(
  "EndpointNotFound",
  { service: Schema.String, id: Schema.String, message: Schema.String },
  apiErrorAnnotations(404)
) {}

/** The id belongs to another service, or to a static endpoint that only config may change. */
export class EndpointConflict extends Schema.TaggedError<EndpointConflict>()(
  "EndpointConflict",
  { id: Schema.String, message: Schema.String },
  apiErrorAnnotations(409)
) {}
