import * as Effect from "effect/Effect"
import { KvKeyNotFound, KvVersionConflict, KvVersionNotFound } from "./errors.js"
import type { KvVersion } from "./model.js"
import type { StorageError } from "../storage/errors.js"
import type { KvStore } from "./store.js"

/** When a write may happen: compare-and-set on a version (If-Match), or only when the key does not exist (If-None-Match: *). */
export interface WriteCondition {
  readonly ifVersion?: number | undefined
  readonly create?: boolean | undefined
}

/** A new value, a deletion, or a new version equal to an older one. */
export type KvChange =
  | { readonly type: "set"; readonly value: unknown; readonly comment?: string | undefined; readonly secret?: boolean | undefined }
  | { readonly type: "delete" }
  | { readonly type: "rollback"; readonly version: number }

export interface WriteRequest {
  readonly key: string
  /** The writing token's name. */
  readonly by: string
  readonly condition: WriteCondition
  readonly change: KvChange
}

export type WriteError = KvVersionConflict | KvKeyNotFound | KvVersionNotFound

const live = (version: KvVersion | undefined): KvVersion | undefined => (version === undefined || version.deleted ? undefined : version)

const checkCondition = (key: string, current: KvVersion | undefined, condition: WriteCondition): Effect.Effect<void, KvVersionConflict> => {
  if (condition.create === true && current !== undefined) {
    return Effect.fail(new KvVersionConflict({ message: `key ${key} exists (version ${current.version}); If-None-Match: * writes only a new key` }))
  }
  if (condition.ifVersion !== undefined && current?.version !== condition.ifVersion) {
    const found = current === undefined ? "it does not exist" : `its version is ${current.version}`
    return Effect.fail(new KvVersionConflict({ message: `key ${key} is not at version ${condition.ifVersion}: ${found}` }))
  }
  return Effect.void
}

/** The fields of the new version that come from the change: value, secret flag, comment. */
const contentOf = (
  store: KvStore["Type"],
  key: string,
  current: KvVersion | undefined,
  change: KvChange
): Effect.Effect<Pick<KvVersion, "deleted" | "value" | "secret" | "comment">, KvKeyNotFound | KvVersionNotFound | StorageError> => {
  switch (change.type) {
    case "set":
      // A value written without the flag stays as secret as the key was: an update must not expose it.
      return Effect.succeed({ deleted: false, value: change.value, secret: change.secret ?? current?.secret ?? false, comment: change.comment })
    case "delete":
      return current === undefined
        ? Effect.fail(new KvKeyNotFound({ message: `no key ${key}` }))
        : Effect.succeed({ deleted: true, value: undefined, secret: current.secret, comment: undefined })
    case "rollback":
      return Effect.flatMap(store.version(key, change.version), (target) =>
        target === undefined || target.deleted
          ? Effect.fail(new KvVersionNotFound({ message: `key ${key} has no version ${change.version} to roll back to (never written, a deletion, or no longer kept: kv.retention)` }))
          : Effect.succeed({ deleted: false, value: target.value, secret: target.secret, comment: `rollback to version ${change.version}` }))
  }
}

/**
 * Writes one change in a transaction that holds the index: the key's newest version is read
 * from the database (not from memory, which may trail another replica), the condition checked,
 * the next version appended under the next index, and versions beyond `retention` pruned.
 */
export const writeVersion = (store: KvStore["Type"], request: WriteRequest, retention: number, now: Date) =>
  store.transaction((index) =>
    Effect.gen(function*() {
      const newest = yield* store.latest(request.key)
      const current = live(newest)
      yield* checkCondition(request.key, current, request.condition)
      const content = yield* contentOf(store, request.key, current, request.change)
      const version: KvVersion = {
        key: request.key,
        version: (newest?.version ?? 0) + 1,
        index: index + 1,
        ...content,
        updatedAt: now.toISOString(),
        updatedBy: request.by
      }
      yield* store.append(version)
      yield* store.prune(request.key, version.version - retention)
      return version
    })
  )
