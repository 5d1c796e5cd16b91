import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { EnvironmentVariables } from "../shared/environment.js"
import { StorageSettingsError } from "./errors.js"

/**
 * What storage needs to open a database, given as arguments: storage sits below config and
 * never reads it. The shape mirrors the `storage` section of Miko's config (plus the data
 * dir), so the composition root passes that section as it is and a misconfiguration names
 * the same key a person edits.
 */

/** A SQLite file at `<dataDir>/<filename>`, and how long a write waits for a locked database. */
export interface SqliteSettings {
  readonly dataDir: string
  readonly filename: string
  readonly busyTimeout: Duration.DurationInput
}

/** A PostgreSQL database: its URL, given directly or by the name of the variable that holds it. */
export interface PostgresSettings {
  readonly url?: string | undefined
  readonly secretEnv?: string | undefined
  readonly maxConnections: number
}

/** Either driver; only the chosen driver's settings are read. */
export interface StorageSettings extends SqliteSettings {
  readonly driver: "sqlite" | "postgres"
  readonly postgres: PostgresSettings
}

/** The connection URL from `storage.postgres.url` or the variable `storage.postgres.secretEnv` names. */
export const postgresUrl = (
  postgres: Pick<PostgresSettings, "url" | "secretEnv">,
  env: EnvironmentVariables
): Effect.Effect<Redacted.Redacted<string>, StorageSettingsError> => {
  if (postgres.url !== undefined) return Effect.succeed(Redacted.make(postgres.url))
  if (postgres.secretEnv !== undefined) {
    const value = env[postgres.secretEnv]
    return value === undefined || value.trim() === ""
      ? Effect.fail(
        new StorageSettingsError({
          key: "storage.postgres.secretEnv",
          message: `storage.postgres.secretEnv: the environment variable ${postgres.secretEnv} is not set (it should hold the PostgreSQL URL)`
        })
      )
      : Effect.succeed(Redacted.make(value.trim()))
  }
  return Effect.fail(
    new StorageSettingsError({
      key: "storage.postgres.url",
      message: "storage.driver is postgres: set storage.postgres.url or storage.postgres.secretEnv"
    })
  )
}
