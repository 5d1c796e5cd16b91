import * as Schema from "effect/Schema"
import { KvPrefix } from "../config/schema.js"

/** One version of a key as Miko keeps it; a deletion is a version with `deleted` and no value. */
export interface KvVersion {
  readonly key: string
  readonly version: number
  /** The change index this version took, shared by every key. */
  readonly index: number
  readonly deleted: boolean
  readonly secret: boolean
  /** The JSON value; undefined for a deletion. */
  readonly value: unknown
  readonly comment: string | undefined
  /** ISO 8601. */
  readonly updatedAt: string
  readonly updatedBy: string
}

const Version = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).annotations({ description: "The key's own version: 1, 2, 3 … never reused" })
const Index = Schema.Int.pipe(Schema.nonNegative()).annotations({ description: "The change index, shared by every key" })
const Comment = Schema.String.pipe(Schema.maxLength(1024))
const JsonValue = Schema.Unknown.annotations({ description: "Any JSON value" })

const written = {
  key: Schema.String,
  version: Version,
  index: Index,
  updatedAt: Schema.String.annotations({ description: "When this version was written (ISO 8601)" }),
  updatedBy: Schema.String.annotations({ description: "The name of the token that wrote it" })
}

export const KvEntry = Schema.Struct({
  ...written,
  value: JsonValue,
  comment: Schema.optionalWith(Schema.String, { exact: true }),
  secret: Schema.Boolean
}).annotations({ identifier: "KvEntry" })

export const KvListItem = Schema.Struct({
  ...written,
  secret: Schema.Boolean,
  value: Schema.optionalWith(JsonValue, { exact: true }).annotations({ description: "With values=true; left out for a secret the caller may not write" })
}).annotations({ identifier: "KvListItem" })

export const KvList = Schema.Struct({
  prefix: Schema.String,
  index: Index.annotations({ description: "The last change index under the prefix" }),
  items: Schema.Array(KvListItem)
}).annotations({ identifier: "KvList" })

export const KvWritten = Schema.Struct(written).annotations({ identifier: "KvWritten" })

export const KvDeleted = Schema.Struct({ key: Schema.String, version: Version, index: Index }).annotations({ identifier: "KvDeleted" })

export const KvHistoryVersion = Schema.Struct({
  version: Version,
  index: Index,
  updatedAt: Schema.String,
  updatedBy: Schema.String,
  comment: Schema.optionalWith(Schema.String, { exact: true }),
  deleted: Schema.Boolean,
  secret: Schema.Boolean,
  value: Schema.optionalWith(JsonValue, { exact: true }).annotations({ description: "Left out for a deletion, and for a secret the caller may not write" })
}).annotations({ identifier: "KvHistoryVersion" })

export const KvHistory = Schema.Struct({
  key: Schema.String,
  versions: Schema.Array(KvHistoryVersion).annotations({ description: "Newest first" })
}).annotations({ identifier: "KvHistory" })

export const KvPut = Schema.Struct({
  value: JsonValue.pipe(Schema.filter((value) => value !== undefined, { message: () => "is missing: send {\"value\": <any JSON>}" })),
  comment: Schema.optionalWith(Comment.annotations({ description: "Why it changed, kept in the history (at most 1024 characters)" }), { exact: true }),
  secret: Schema.optionalWith(Schema.Boolean.annotations({
    description: "Hide the value from list, history and events for callers without write access; when absent, the key keeps what it had"
  }), { exact: true })
}).annotations({ identifier: "KvPut" })

export const KvRollback = Schema.Struct({
  version: Version.annotations({ description: "The version whose value becomes the key's new version" })
}).annotations({ identifier: "KvRollback" })

/** An event of the WebSocket `kv` topic (and of the in-process change stream, encoded). */
export const KvEvent = Schema.Struct({
  key: Schema.String,
  version: Version,
  index: Index,
  deleted: Schema.Boolean,
  value: Schema.optionalWith(JsonValue, { exact: true })
}).annotations({ identifier: "KvEvent" })

export { KvPrefix }
