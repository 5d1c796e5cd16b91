import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

/** The database could not be opened, migrated, read or written. */
export class StorageError extends Schema.TaggedError<StorageError>()(
  "StorageError",
  { message: Schema.String },
  apiErrorAnnotations(503)
) {}
