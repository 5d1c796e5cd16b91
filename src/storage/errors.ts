import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

/** The database could not be opened, migrated, read or written. */
export class StorageError extends Schema.TaggedError<StorageError>()(
  "StorageError",
  { message: Schema.String },
  apiErrorAnnotations(503)
) {}

/** Maps a failed storage action to a `StorageError` that names the action: `reading tasks: …`. */
export const storageError = (action: string) => (error: { readonly message: string }): StorageError =>
  new StorageError({ message: `${action}: ${error.message}` })

/**
 * The settings cannot make a connection (no PostgreSQL URL, a variable that is not set): a
 * person must fix `key`, which the message names first. Kept apart from `StorageError` so the
 * caller can report it as the configuration mistake it is rather than as an outage.
 */
export class StorageSettingsError extends Schema.TaggedError<StorageSettingsError>()(
  "StorageSettingsError",
  { key: Schema.String, message: Schema.String }
) {}
