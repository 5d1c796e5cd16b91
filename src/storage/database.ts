import type * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { StorageError, StorageSettingsError } from "./errors.js"
import type { Notifications } from "./notifications.js"
import type { Environment, PostgresSettings, StorageSettings } from "./settings.js"
import { layerSqlite } from "./sqlite.js"

/**
 * A migrated `SqlClient` on PostgreSQL, with `LISTEN/NOTIFY` between the replicas. The driver
 * module (and with it `pg`) is imported only when this layer is built, so neither importing
 * Miko nor running it on SQLite loads the PostgreSQL client.
 */
export const layerPostgres = (
  settings: PostgresSettings,
  env: Environment
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError | StorageSettingsError> =>
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("./postgres.js")), (postgres) => postgres.layerPostgresEager(settings, env))
  )

/**
 * The database `settings.driver` names, migrated, with notifications between its users. `env`
 * is where `settings.postgres.secretEnv` is looked up.
 */
export const layerDatabase = (
  settings: StorageSettings,
  env: Environment
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError | StorageSettingsError, FileSystem.FileSystem> =>
  settings.driver === "postgres" ? layerPostgres(settings.postgres, env) : layerSqlite(settings)
