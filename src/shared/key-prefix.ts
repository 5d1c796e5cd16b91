import * as Schema from "effect/Schema"

/**
 * A prefix of application keys (`billing/`, `billing/db/pool-size`, or empty for every key): the
 * characters keys are made of, at most as long as a key. Token rules, `kv.publicRead` and the
 * scheduler's `kvChanged` triggers name keys this way.
 */
export const KeyPrefix = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9._/-]{0,512}$/, { message: () => "Expected a key prefix such as billing/ (letters, digits, . _ - and /, at most 512 characters)" })
).annotations({ identifier: "KvPrefix" })
