import type * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { StorageError, StorageSettingsError } from "./errors.js"
import type { Notifications } from "./notifications.js"
import { type EnvironmentNeeded, type EnvironmentVariables, provideEnvironmentArgument } from "../shared/environment.js"
import type { PostgresSettings, StorageSettings } from "./settings.js"
import { layerSqlite } from "./sqlite.js"

/**
 * A migrated `SqlClient` on PostgreSQL, with `LISTEN/NOTIFY` between the replicas. The driver
 * module (and with it `pg`) is imported only when this layer is built, so neither importing
 * Miko nor running it on SQLite loads the PostgreSQL client. `settings.secretEnv` names a
 * variable of the `Environment` service, or of `env` when given (which provides the service).
 */
export const layerPostgres = <Variables extends EnvironmentVariables | undefined = undefined>(
  settings: PostgresSettings,
  ...[env]: [env?: Variables]
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError | StorageSettingsError, EnvironmentNeeded<{ readonly env: Variables }>> =>
  provideEnvironmentArgument(
    Layer.unwrapEffect(Effect.map(Effect.promise(() => import("./postgres.js")), (postgres) => postgres.layerPostgresEager(settings))),
    env
  )

/**
 * The database `settings.driver` names, migrated, with notifications between its users.
 * `settings.postgres.secretEnv` is looked up as by `layerPostgres`.
 */
export const layerDatabase = <Variables extends EnvironmentVariables | undefined = undefined>(
  settings: StorageSettings,
  ...[env]: [env?: Variables]
): Layer.Layer<
  SqlClient.SqlClient | Notifications,
  StorageError | StorageSettingsError,
  FileSystem.FileSystem | EnvironmentNeeded<{ readonly env: Variables }>
> => settings.driver === "postgres" ? layerPostgres(settings.postgres, env) : layerSqlite(settings)
