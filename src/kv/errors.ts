import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"

/** A key that breaks the key rules (segments, length, a reserved last segment): 400. */
export class KvInvalidKey extends Schema.TaggedError<KvInvalidKey>()(
  "KvInvalidKey",
  { message: Schema.String },
  apiErrorAnnotations(400)
) {}

/** A missing key, a deleted one, and one the caller may not read all answer the same: 404. */
export class KvKeyNotFound extends Schema.TaggedError<KvKeyNotFound>()(
  "KvKeyNotFound",
  { message: Schema.String },
  apiErrorAnnotations(404)
) {}

/** A write, or a listing, outside the caller's rules: 403. */
export class KvForbidden extends Schema.TaggedError<KvForbidden>()(
  "KvForbidden",
  { message: Schema.String },
  apiErrorAnnotations(403)
) {}

/** A compare-and-set (If-Match) or create-only (If-None-Match: *) write whose condition failed: 412. */
export class KvVersionConflict extends Schema.TaggedError<KvVersionConflict>()(
  "KvVersionConflict",
  { message: Schema.String },
  apiErrorAnnotations(412)
) {}

/** A value whose JSON text is longer than kv.maxValueBytes: 413. */
export class KvValueTooLarge extends Schema.TaggedError<KvValueTooLarge>()(
  "KvValueTooLarge",
  { message: Schema.String },
  apiErrorAnnotations(413)
) {}

/** A rollback to a version that never was, was pruned, or is a deletion: 404. */
export class KvVersionNotFound extends Schema.TaggedError<KvVersionNotFound>()(
  "KvVersionNotFound",
  { message: Schema.String },
  apiErrorAnnotations(404)
) {}
