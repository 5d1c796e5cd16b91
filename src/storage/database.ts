import type * as FileSystem from "@effect/platform/FileSystem"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ConfigLoadError } from "../config/errors.js"
import { BaseConfig } from "../config/load.js"
import type { StorageError } from "./errors.js"
import type { Notifications } from "./notifications.js"
import { layerSqlite } from "./sqlite.js"

/**
 * The database `storage.driver` names, migrated, with notifications between its users. The
 * PostgreSQL client is loaded only when asked for, so a SQLite Miko starts without it.
 */
export const layerDatabase = (
  env: Readonly<Record<string, string | undefined>>
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError | ConfigLoadError, BaseConfig | FileSystem.FileSystem> =>
  Layer.unwrapEffect(
    Effect.flatMap(
      BaseConfig,
      ({ resolved }): Effect.Effect<
        Layer.Layer<SqlClient.SqlClient | Notifications, StorageError | ConfigLoadError, BaseConfig | FileSystem.FileSystem>
      > =>
        resolved.config.storage.driver === "postgres"
          ? Effect.map(Effect.promise(() => import("./postgres.js")), (postgres) => postgres.layerPostgres(env))
          : Effect.succeed(layerSqlite)
    )
  )
