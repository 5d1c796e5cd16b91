import * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StorageError } from "./errors.js"
import { layerMigrations } from "./migrations.js"
import { layerLocal, type Notifications } from "./notifications.js"
import type { SqliteSettings } from "./settings.js"

/** The SQLite file for a data dir, the directory created when missing. */
const databaseFile = ({ dataDir, filename }: SqliteSettings) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    yield* fs.makeDirectory(dataDir, { recursive: true }).pipe(
      Effect.mapError((error) => new StorageError({ message: `cannot create data dir ${dataDir}: ${error.message}` }))
    )
    return `${dataDir}/${filename}`
  })

/**
 * A `SqlClient` on `<dataDir>/<filename>` in WAL mode with a busy timeout, migrated;
 * one process owns the file, so change notices stay in memory.
 */
export const layerSqlite = (
  settings: SqliteSettings
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError, FileSystem.FileSystem> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const filename = yield* databaseFile(settings)
      const busyMillis = Duration.toMillis(settings.busyTimeout)
      const client = SqliteClient.layer({ filename })
      const pragmas = Layer.effectDiscard(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`PRAGMA busy_timeout = ${Math.round(busyMillis)}`))
      )
      return Layer.merge(Layer.provideMerge(Layer.merge(pragmas, layerMigrations), client), layerLocal)
    })
  ).pipe(
    Layer.catchAll((error) =>
      Layer.fail(
        error instanceof StorageError ? error : new StorageError({ message: `cannot open the database: ${String(error.message)}` })
      )
    )
  )

/** A migrated `SqlClient` on a SQLite file of the embedder's choosing, with SQLite's own defaults. */
export const layerSqliteFile = (filename: string): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError> =>
  Layer.merge(Layer.provideMerge(layerMigrations, SqliteClient.layer({ filename })), layerLocal).pipe(
    Layer.catchAll((error) => Layer.fail(new StorageError({ message: `cannot open ${filename}: ${String(error.message)}` })))
  )
