import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { StorageError } from "../storage/errors.js"
import { didYouMean } from "../shared/suggest.js"
import { ConfigKeyUnknown, ConfigValueInvalid } from "./errors.js"
import { type ConfigKey, configKeys, configKeysByDotted, valueAt } from "./keys.js"
import { BaseConfig } from "./load.js"
import { type ResolvedConfig, resolveConfig, type Source } from "./resolve.js"
import { type MikoConfig, MikoConfigSchema } from "./schema.js"
import { ConfigStore } from "./store.js"

export const ConfigSourceSchema = Schema.Literal("default", "file", "env", "runtime")

/** `GET /v1/config`: the effective configuration (secrets redacted) and where each key came from. */
export const ConfigSnapshot = Schema.Struct({
  config: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  sources: Schema.Record({ key: Schema.String, value: ConfigSourceSchema })
}).annotations({ identifier: "ConfigSnapshot" })
export type ConfigSnapshot = typeof ConfigSnapshot.Type

/** One key's effective value: the answer to a read or a change. */
export const ConfigEntry = Schema.Struct({
  key: Schema.String,
  value: Schema.Unknown,
  source: ConfigSourceSchema,
  description: Schema.String,
  restartRequired: Schema.Boolean.annotations({
    description: "True when a change to this key only takes effect after a restart"
  })
}).annotations({ identifier: "ConfigEntry" })
export type ConfigEntry = typeof ConfigEntry.Type

const REDACTED = "<redacted>"
const encode = Schema.encodeSync(MikoConfigSchema)

/** The encoded config with token secrets and the database URL replaced: what any API may show. */
export const redactedConfig = (config: MikoConfig): Record<string, unknown> => {
  const encoded = encode(config)
  const postgres = encoded.storage?.postgres
  return {
    ...encoded,
    storage: {
      ...encoded.storage,
      postgres: postgres?.url === undefined ? postgres : { ...postgres, url: REDACTED }
    },
    auth: {
      ...encoded.auth,
      tokens: (encoded.auth?.tokens ?? []).map((token) => (token.secret === undefined ? token : { ...token, secret: REDACTED }))
    }
  }
}

/**
 * The effective configuration, live. Every change is validated with the Schema, persisted, and
 * published to subscribers of `changes`; nothing is half-applied.
 */
export class ConfigService extends Context.Tag("miko/config/ConfigService")<ConfigService, {
  /** The effective configuration now. */
  readonly current: Effect.Effect<MikoConfig>
  /** The effective configuration now, then after every change. */
  readonly changes: Stream.Stream<MikoConfig>
  readonly snapshot: Effect.Effect<ConfigSnapshot>
  readonly get: (key: string) => Effect.Effect<ConfigEntry, ConfigKeyUnknown>
  readonly set: (key: string, value: unknown) => Effect.Effect<ConfigEntry, ConfigKeyUnknown | ConfigValueInvalid | StorageError>
  readonly reset: (key: string) => Effect.Effect<ConfigEntry, ConfigKeyUnknown | ConfigValueInvalid | StorageError>
  readonly resetAll: Effect.Effect<ConfigSnapshot, ConfigValueInvalid | StorageError>
}>() {}

const lookup = (key: string) => {
  const found = configKeysByDotted.get(key)
  return found === undefined
    ? Effect.fail(
      new ConfigKeyUnknown({
        key,
        message: `unknown config key ${JSON.stringify(key)}${didYouMean(key, configKeysByDotted.keys())}; every key is listed in docs/configuration.md`
      })
    )
    : Effect.succeed(found)
}

const entryOf = (resolved: ResolvedConfig, key: ConfigKey): ConfigEntry => ({
  key: key.dotted,
  value: valueAt(redactedConfig(resolved.config), key.path) ?? null,
  source: resolved.sources[key.dotted] ?? "default",
  description: key.description,
  restartRequired: key.restartRequired
})

/** Persisted runtime changes that no longer validate are skipped with a warning rather than blocking start. */
const validRuntime = (base: BaseConfig["Type"], stored: ReadonlyMap<string, unknown>) =>
  Effect.gen(function*() {
    const kept = new Map<string, unknown>()
    for (const [key, value] of stored) {
      if (!configKeysByDotted.has(key)) {
        yield* Effect.logWarning(`ignoring stored runtime change to unknown config key ${key}`)
        continue
      }
      const candidate = new Map(kept).set(key, value)
      const result = resolveConfig({ ...base.inputs, runtime: candidate })
      if (Either.isLeft(result)) {
        yield* Effect.logWarning(`ignoring stored runtime change to ${key}: ${result.left.join("; ")}`)
      } else {
        kept.set(key, value)
      }
    }
    return kept
  })

export const layer: Layer.Layer<ConfigService, StorageError, BaseConfig | ConfigStore> = Layer.scoped(
  ConfigService,
  Effect.gen(function*() {
    const base = yield* BaseConfig
    const store = yield* ConfigStore
    const runtime = yield* validRuntime(base, yield* store.all)
    const initial = Either.getOrThrow(resolveConfig({ ...base.inputs, runtime }))
    const state = yield* SubscriptionRef.make<{
      readonly resolved: ResolvedConfig
      readonly runtime: ReadonlyMap<string, unknown>
    }>({ resolved: initial, runtime })
    const writes = yield* Effect.makeSemaphore(1)

    const apply = (key: ConfigKey, next: ReadonlyMap<string, unknown>, persist: Effect.Effect<void, StorageError>) =>
      Either.match(resolveConfig({ ...base.inputs, runtime: next }), {
        onLeft: (problems) =>
          Effect.fail(
            new ConfigValueInvalid({
              key: key.dotted,
              message: problems.map((problem) => problem.replace(/^runtime change to [^:]+: /, "")).join("; ")
            })
          ),
        onRight: (resolved) =>
          Effect.zipRight(persist, SubscriptionRef.set(state, { resolved, runtime: next })).pipe(
            Effect.zipRight(announce),
            Effect.as(entryOf(resolved, key))
          )
      })

    const announce = store.announce.pipe(Effect.catchAll((error) => Effect.logWarning(`config change not announced: ${error.message}`)))

    /** Takes up the changes other replicas stored; what no longer validates is skipped, as at start. */
    const reload = writes.withPermits(1)(
      Effect.gen(function*() {
        const stored = yield* validRuntime(base, yield* store.all)
        const { runtime: known } = yield* SubscriptionRef.get(state)
        const same = stored.size === known.size &&
          [...stored].every(([key, value]) => known.has(key) && JSON.stringify(known.get(key)) === JSON.stringify(value))
        if (same) return
        const resolved = resolveConfig({ ...base.inputs, runtime: stored })
        if (Either.isRight(resolved)) yield* SubscriptionRef.set(state, { resolved: resolved.right, runtime: stored })
      })
    ).pipe(
      Effect.catchAll((error) => Effect.logWarning(`runtime config changes not reloaded: ${error.message}`)),
      Effect.catchAllDefect((defect) => Effect.logError("runtime config changes not reloaded", defect))
    )

    if (store.shared) {
      yield* Stream.merge(store.announcements, Stream.fromSchedule(Schedule.spaced(initial.config.cluster.syncInterval))).pipe(
        Stream.runForEach(() => reload),
        Effect.forkScoped
      )
    }

    const current = Effect.map(SubscriptionRef.get(state), (s) => s.resolved.config)
    const snapshot = Effect.map(SubscriptionRef.get(state), ({ resolved }): ConfigSnapshot => ({
      config: redactedConfig(resolved.config),
      sources: resolved.sources as Record<string, Source>
    }))

    return ConfigService.of({
      current,
      changes: Stream.changes(Stream.map(state.changes, (s) => s.resolved.config)),
      snapshot,
      get: (key) => Effect.flatMap(lookup(key), (found) => Effect.map(SubscriptionRef.get(state), (s) => entryOf(s.resolved, found))),
      set: (key, value) =>
        writes.withPermits(1)(
          Effect.gen(function*() {
            const found = yield* lookup(key)
            const { runtime } = yield* SubscriptionRef.get(state)
            return yield* apply(found, new Map(runtime).set(found.dotted, value), store.put(found.dotted, value))
          })
        ),
      reset: (key) =>
        writes.withPermits(1)(
          Effect.gen(function*() {
            const found = yield* lookup(key)
            const next = new Map((yield* SubscriptionRef.get(state)).runtime)
            next.delete(found.dotted)
            return yield* apply(found, next, store.remove(found.dotted))
          })
        ),
      resetAll: writes.withPermits(1)(
        Effect.gen(function*() {
          const resolved = yield* Either.match(resolveConfig({ ...base.inputs, runtime: new Map() }), {
            onLeft: (problems) => Effect.fail(new ConfigValueInvalid({ key: "", message: problems.join("; ") })),
            onRight: Effect.succeed
          })
          yield* store.clear
          yield* SubscriptionRef.set(state, { resolved, runtime: new Map() })
          yield* announce
          return yield* snapshot
        })
      )
    })
  })
)

/** Every key, for listings and docs. */
export { configKeys }
