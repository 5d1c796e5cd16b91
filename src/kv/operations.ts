import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Caller, type CallerInfo } from "../auth/caller.js"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "../lifecycle/index.js"
import { accessTo, type KvAccess, mayList } from "./access.js"
import { KvForbidden, KvKeyNotFound, KvValueTooLarge } from "./errors.js"
import { forbiddenWrite } from "./gate.js"
import { validKey } from "./key.js"
import type { KvVersion } from "./model.js"
import { Kv } from "./service.js"
import type { Watched } from "./table.js"
import type { KvChange, WriteCondition } from "./writes.js"

/**
 * The key operations as callers reach them, with the caller's access checked: the HTTP
 * handlers, the WebSocket commands and (through HTTP) the CLI all go through these.
 */

/** A blocking read: wait until the change index passes `index`, for at most `wait`. */
export interface Blocking {
  readonly index: number
  readonly wait?: Duration.Duration | undefined
}

const defaultWait = Duration.seconds(30)
const maxWait = Duration.minutes(10)

const context = Effect.gen(function*() {
  const caller = yield* Caller
  const { kv: settings } = yield* (yield* ConfigService).current
  return { caller, settings, kv: yield* Kv }
})

const forbiddenPrefix = (caller: CallerInfo, verb: string, prefix: string) =>
  new KvForbidden({
    message: `${caller.name === undefined ? "an anonymous caller" : `token ${JSON.stringify(caller.name)}`} may not ${verb} keys under ${JSON.stringify(prefix)}`
  })

/** A missing, deleted or unreadable key: all answer alike. */
export const notFound = (key: string) => new KvKeyNotFound({ message: `no key ${key}` })

/** Waits for `watched` to change past the blocking read's index, at most its wait, and no longer than the shutdown. */
const block = (watched: Watched, blocking: Blocking | undefined) =>
  Effect.gen(function*() {
    if (blocking === undefined) return
    const kv = yield* Kv
    const lifecycle = yield* Lifecycle
    yield* Effect.raceFirst(
      kv.awaitChange(watched, blocking.index),
      Effect.raceFirst(Effect.sleep(Duration.min(blocking.wait ?? defaultWait, maxWait)), lifecycle.shutdown)
    )
  })

export const entryOf = (version: KvVersion) => ({
  key: version.key,
  value: version.value,
  version: version.version,
  index: version.index,
  updatedAt: version.updatedAt,
  updatedBy: version.updatedBy,
  ...(version.comment === undefined ? {} : { comment: version.comment }),
  secret: version.secret
})

/** A key in a listing, with its value when `withValue`. */
export const itemOf = (version: KvVersion, withValue: boolean) => ({
  key: version.key,
  version: version.version,
  index: version.index,
  updatedAt: version.updatedAt,
  updatedBy: version.updatedBy,
  secret: version.secret,
  ...(withValue ? { value: version.value } : {})
})

/** Whether a value may be shown in a list, history or event: a secret only to those who may write it. */
const showsValue = (version: KvVersion, access: KvAccess) => !version.deleted && (!version.secret || access === "write")

/** A key in `caller`'s listing: its value when asked for and the caller may see it. */
export const listedItem = (caller: CallerInfo, publicRead: ReadonlyArray<string>, version: KvVersion, values: boolean) =>
  itemOf(version, values && showsValue(version, accessTo(caller, publicRead, version.key)))

/** One key's current version; a missing, deleted or unreadable key is 404 alike. */
export const getKey = (rawKey: string, blocking?: Blocking) =>
  Effect.gen(function*() {
    const key = yield* validKey(rawKey)
    const { caller, settings, kv } = yield* context
    if (accessTo(caller, settings.publicRead, key) === "none") return yield* notFound(key)
    yield* block({ key }, blocking)
    const current = kv.table.current(key)
    if (current === undefined || current.deleted) return yield* notFound(key)
    return { entry: entryOf(current), index: current.index }
  })

/** The live keys under a prefix, with their values when asked (secrets only for writers). */
export const listKeys = (prefix: string, values: boolean, blocking?: Blocking) =>
  Effect.gen(function*() {
    const { caller, settings, kv } = yield* context
    if (!mayList(caller, settings.publicRead, prefix)) return yield* forbiddenPrefix(caller, "list", prefix)
    yield* block({ prefix }, blocking)
    const index = kv.table.indexOf({ prefix })
    const items = kv.table.under(prefix).map((version) => listedItem(caller, settings.publicRead, version, values))
    return { list: { prefix, index, items }, index }
  })

const write = (rawKey: string, change: KvChange, condition: WriteCondition) =>
  Effect.gen(function*() {
    const key = yield* validKey(rawKey)
    const { caller, settings, kv } = yield* context
    if (accessTo(caller, settings.publicRead, key) !== "write") return yield* forbiddenWrite(caller, key)
    if (change.type === "set") {
      const bytes = Buffer.byteLength(JSON.stringify(change.value), "utf8")
      if (bytes > settings.maxValueBytes) {
        return yield* new KvValueTooLarge({ message: `the value of key ${key} is ${bytes} bytes of JSON, more than kv.maxValueBytes (${settings.maxValueBytes})` })
      }
    }
    return yield* kv.write({ key, by: caller.name ?? "anonymous", condition, change })
  })

const writtenOf = (version: KvVersion) => ({
  key: version.key,
  version: version.version,
  index: version.index,
  updatedAt: version.updatedAt,
  updatedBy: version.updatedBy
})

export const putKey = (
  key: string,
  put: { readonly value: unknown; readonly comment?: string | undefined; readonly secret?: boolean | undefined },
  condition: WriteCondition
) => Effect.map(write(key, { type: "set", value: put.value, comment: put.comment, secret: put.secret }, condition), writtenOf)

export const deleteKey = (key: string, condition: WriteCondition) =>
  Effect.map(write(key, { type: "delete" }, condition), (version) => ({ key: version.key, version: version.version, index: version.index }))

export const rollbackKey = (key: string, version: number, condition: WriteCondition) =>
  Effect.map(write(key, { type: "rollback", version }, condition), writtenOf)

/** The kept versions of a key, newest first; secret values only for writers. */
export const keyHistory = (rawKey: string, limit: number) =>
  Effect.gen(function*() {
    const key = yield* validKey(rawKey)
    const { caller, settings, kv } = yield* context
    const access = accessTo(caller, settings.publicRead, key)
    if (access === "none") return yield* notFound(key)
    const versions = yield* kv.history(key, limit)
    if (versions.length === 0) return yield* notFound(key)
    return {
      key,
      versions: versions.map((version) => ({
        version: version.version,
        index: version.index,
        updatedAt: version.updatedAt,
        updatedBy: version.updatedBy,
        ...(version.comment === undefined ? {} : { comment: version.comment }),
        deleted: version.deleted,
        secret: version.secret,
        ...(showsValue(version, access) ? { value: version.value } : {})
      }))
    }
  })

/** Events of the `kv` topic: changes under `prefix` after `since`, secret values only for writers. */
export const watchKeys = (prefix: string, since: number) =>
  Effect.gen(function*() {
    const { caller, settings, kv } = yield* context
    if (!mayList(caller, settings.publicRead, prefix)) return yield* forbiddenPrefix(caller, "watch", prefix)
    return Stream.map(kv.watch(prefix, since), (version) => ({
      key: version.key,
      version: version.version,
      index: version.index,
      deleted: version.deleted,
      ...(showsValue(version, accessTo(caller, settings.publicRead, version.key)) ? { value: version.value } : {})
    }))
  })
