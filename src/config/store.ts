import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { storageError, StorageError } from "../storage/errors.js"
import { Notifications } from "../storage/notifications.js"

/** Runtime config changes, kept across restarts: dotted key → encoded value. */
export class ConfigStore extends Context.Tag("miko/config/ConfigStore")<ConfigStore, {
  readonly all: Effect.Effect<ReadonlyMap<string, unknown>, StorageError>
  readonly put: (key: string, value: unknown) => Effect.Effect<void, StorageError>
  readonly remove: (key: string) => Effect.Effect<void, StorageError>
  readonly clear: Effect.Effect<void, StorageError>
  /** Whether other replicas change the same store. */
  readonly shared: boolean
  /** Tells the other replicas that the changes moved. */
  readonly announce: Effect.Effect<void, StorageError>
  /** Word from any replica that the changes moved. */
  readonly announcements: Stream.Stream<string>
}>() {}

const channel = "miko_config"

/** A stored value is JSON text; one that no longer parses (a manual edit) is skipped, never fatal. */
const decodeValue = Schema.decodeUnknownEither(Schema.parseJson())


/** The store in the `config_overrides` table of whatever `SqlClient` is provided. */
export const layerSql: Layer.Layer<ConfigStore, never, SqlClient.SqlClient | Notifications> = Layer.effect(
  ConfigStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const notifications = yield* Notifications
    return ConfigStore.of({
      shared: notifications.shared,
      announce: notifications.publish(channel, "config"),
      announcements: notifications.subscribe(channel),
      all: sql<{ key: string; value: string }>`SELECT key, value FROM config_overrides ORDER BY key`.pipe(
        Effect.mapError(storageError("reading runtime config changes")),
        Effect.flatMap((rows) => Effect.reduce(rows, new Map<string, unknown>(), (values, row) =>
          Either.match(decodeValue(row.value), {
            onLeft: () => Effect.as(Effect.logError(`ignoring stored runtime change to ${row.key}: it is not JSON`), values),
            onRight: (value) => Effect.succeed(values.set(row.key, value))
          })))
      ),
      put: (key, value) =>
        sql`INSERT INTO config_overrides (key, value, updated_at)
            VALUES (${key}, ${JSON.stringify(value)}, ${new Date().toISOString()})
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError(`saving the runtime change to ${key}`))
        ),
      remove: (key) =>
        sql`DELETE FROM config_overrides WHERE key = ${key}`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError(`removing the runtime change to ${key}`))
        ),
      clear: sql`DELETE FROM config_overrides`.pipe(
        Effect.asVoid,
        Effect.mapError(storageError("removing runtime config changes"))
      )
    })
  })
)

/** A store that lives as long as the process: for embedders that keep no database. */
export const layerMemory: Layer.Layer<ConfigStore> = Layer.effect(
  ConfigStore,
  Effect.map(Ref.make<ReadonlyMap<string, unknown>>(new Map()), (ref) =>
    ConfigStore.of({
      shared: false,
      announce: Effect.void,
      announcements: Stream.never,
      all: Ref.get(ref),
      put: (key, value) => Ref.update(ref, (map) => new Map(map).set(key, value)),
      remove: (key) =>
        Ref.update(ref, (map) => {
          const next = new Map(map)
          next.delete(key)
          return next
        }),
      clear: Ref.set(ref, new Map())
    }))
)
