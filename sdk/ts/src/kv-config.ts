/**
 * A configuration view: a local copy of the keys under one prefix, with their values, kept fresh
 * by blocking queries on `GET /v1/kv?prefix=…`; typed reads, a Stream of changes, and writes with
 * compare-and-set. When Miko is unreachable the last copy keeps answering.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { type ConfigReadError, type ConfigWriteError, InvalidConfigValue, MikoUnreachable } from "./errors.js"
import { currentOf, type Followed, keepFollowing, nothingYet } from "./follow.js"
import type { DeleteOptions, KvApi, SetOptions } from "./kv-api.js"
import type { ResolvedOptions } from "./options.js"
import type { KvList, KvWritten } from "./wire.js"

/** One key of the copy. `value` is absent for a secret value this token may not write. */
export interface ConfigEntry {
  /** The key relative to the view's prefix (`db/pool-size` under `billing/`). */
  readonly key: string
  readonly value?: unknown
  readonly version: number
  readonly index: number
  readonly updatedAt: string
  readonly updatedBy: string
  readonly secret: boolean
}

/** The copy at one change index of the prefix. */
export interface ConfigSnapshot {
  readonly index: number
  readonly entries: ReadonlyMap<string, ConfigEntry>
}

/** What changed between two copies: a key written (new, or a new version) or deleted. */
export type ConfigChange =
  | { readonly _tag: "Set"; readonly key: string; readonly entry: ConfigEntry; readonly previous: ConfigEntry | undefined }
  | { readonly _tag: "Deleted"; readonly key: string; readonly previous: ConfigEntry }

export interface MikoConfig {
  /** The prefix the view follows; keys of reads and writes are relative to it. */
  readonly prefix: string
  /** Succeeds once a copy is at hand; fails with the first attempt's error otherwise (`KvForbidden` for a denied prefix). */
  readonly ready: Effect.Effect<void, ConfigReadError>
  /** The whole copy; before the first one, waits for the first attempt. */
  readonly snapshot: Effect.Effect<ConfigSnapshot, ConfigReadError>
  /** The copy at hand without waiting: none before the first one. */
  readonly latest: Effect.Effect<Option.Option<ConfigSnapshot>>
  readonly entry: (key: string) => Effect.Effect<Option.Option<ConfigEntry>, ConfigReadError>
  /** The plain JSON value of a key. */
  readonly get: (key: string) => Effect.Effect<Option.Option<unknown>, ConfigReadError>
  /** A key's value decoded with `schema`; none when the key is absent. */
  readonly read: <A, I>(key: string, schema: Schema.Schema<A, I>) => Effect.Effect<Option.Option<A>, ConfigReadError | InvalidConfigValue>
  /** A key's value decoded with `schema`, or `fallback` when the key is absent. */
  readonly readOr: <A, I>(key: string, schema: Schema.Schema<A, I>, fallback: A) => Effect.Effect<A, ConfigReadError | InvalidConfigValue>
  /** Every change from the moment of subscribing, as the copy follows Miko (after a restart of Miko too); ends with the view. */
  readonly changes: Stream.Stream<ConfigChange>
  /** The copy now, then each new one (the changes of the `SubscriptionRef` that holds it); ends with the view. */
  readonly snapshots: Stream.Stream<ConfigSnapshot>
  /** True while there is no copy, and when the last refresh failed: reads then answer from the last good copy. */
  readonly stale: Effect.Effect<boolean>
  /** When Miko last confirmed the copy. */
  readonly lastUpdated: Effect.Effect<Option.Option<Date>>
  /** Writes `value` (any JSON) to `prefix + key`; `ifVersion` and `create` make it conditional (`KvVersionConflict`). */
  readonly set: (key: string, value: unknown, options?: SetOptions) => Effect.Effect<KvWritten, ConfigWriteError>
  /** Deletes `prefix + key` (`KvKeyNotFound` when it is not there); `ifVersion` makes it conditional. */
  readonly delete: (key: string, options?: DeleteOptions) => Effect.Effect<KvWritten, ConfigWriteError>
}

type ConfigState = Followed<ConfigSnapshot, ConfigReadError>

const snapshotOf = (prefix: string, list: KvList): ConfigSnapshot => {
  const entries = new Map<string, ConfigEntry>()
  for (const { key, ...item } of list.items) {
    const relative = key.startsWith(prefix) ? key.slice(prefix.length) : key
    entries.set(relative, { key: relative, ...item })
  }
  return { index: list.index, entries }
}

/** The changes from one copy to the next. */
export const changesBetween = (before: ConfigSnapshot, after: ConfigSnapshot): ReadonlyArray<ConfigChange> => {
  const changes: Array<ConfigChange> = []
  for (const [key, entry] of after.entries) {
    const previous = before.entries.get(key)
    if (previous === undefined || previous.version !== entry.version || previous.index !== entry.index) {
      changes.push({ _tag: "Set", key, entry, previous })
    }
  }
  for (const [key, previous] of before.entries) if (!after.entries.has(key)) changes.push({ _tag: "Deleted", key, previous })
  return changes
}

/** Follows `prefix` for as long as the scope lasts. */
export const makeConfig = (options: ResolvedOptions, api: KvApi, prefix: string): Effect.Effect<MikoConfig, never, Scope.Scope> =>
  Effect.gen(function*() {
    const state = yield* SubscriptionRef.make<ConfigState>(nothingYet())
    // The streams of a view end with it, so no subscriber waits on a copy that no longer changes.
    const closed = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(closed, undefined))

    /** One read (a blocking query once there is an index and the last read went well); true when nothing changed. */
    const refresh = Effect.gen(function*() {
      const before = yield* SubscriptionRef.get(state)
      const list = yield* api.list(prefix, before.error === undefined ? before.snapshot?.index : undefined).pipe(
        Effect.tapError((error) => SubscriptionRef.update(state, (s) => ({ ...s, error, attempted: true })))
      )
      const now = yield* Clock.currentTimeMillis
      const unchanged = before.snapshot !== undefined && list.index === before.snapshot.index
      // A lower index than before (Miko's store was reset) is the truth as much as a higher one.
      const snapshot = unchanged ? before.snapshot : snapshotOf(prefix, list)
      yield* SubscriptionRef.set(state, { snapshot, error: undefined, attempted: true, updatedAt: now })
      return unchanged
    })
    yield* keepFollowing(options, refresh, `keys under ${JSON.stringify(prefix)}`)

    const unreachable = (why: string) => new MikoUnreachable({ address: options.address, message: `no keys under ${JSON.stringify(prefix)} from Miko at ${options.address}: ${why}` })
    const snapshot = currentOf(state, unreachable)
    const entry = (key: string) => Effect.map(snapshot, (s) => Option.fromNullable(s.entries.get(key)))
    const get = (key: string) => Effect.map(entry(key), Option.flatMap((e) => ("value" in e ? Option.some(e.value) : Option.none())))
    const read = <A, I>(key: string, schema: Schema.Schema<A, I>) =>
      Effect.flatMap(get(key), (value) =>
        Option.isNone(value)
          ? Effect.succeed(Option.none<A>())
          : Schema.decodeUnknown(schema)(value.value).pipe(
            Effect.mapBoth({
              onFailure: (error) => new InvalidConfigValue({ key, message: `${JSON.stringify(prefix + key)} does not match: ${error.message}` }),
              onSuccess: Option.some
            })
          ))
    const snapshots = state.changes.pipe(
      Stream.filterMap((s) => Option.fromNullable(s.snapshot)),
      Stream.changes,
      Stream.interruptWhenDeferred(closed)
    )

    return {
      prefix,
      ready: Effect.asVoid(snapshot),
      snapshot,
      latest: Effect.map(SubscriptionRef.get(state), (s) => Option.fromNullable(s.snapshot)),
      entry,
      get,
      read,
      readOr: (key, schema, fallback) => Effect.map(read(key, schema), Option.getOrElse(() => fallback)),
      changes: snapshots.pipe(
        Stream.zipWithPrevious,
        Stream.mapConcat(([previous, next]) => (Option.isNone(previous) ? [] : changesBetween(previous.value, next)))
      ),
      snapshots,
      stale: Effect.map(SubscriptionRef.get(state), (s) => s.snapshot === undefined || s.error !== undefined),
      lastUpdated: Effect.map(SubscriptionRef.get(state), (s) => Option.map(Option.fromNullable(s.updatedAt), (at) => new Date(at))),
      set: (key, value, setOptions = {}) => api.put(prefix + key, value, setOptions),
      delete: (key, deleteOptions = {}) => api.remove(prefix + key, deleteOptions)
    }
  })
