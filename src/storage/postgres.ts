import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import pg from "pg"
import { BaseConfig } from "../config/load.js"
import { StorageError } from "./errors.js"
import { layerMigrations } from "./migrations.js"
import { Notifications } from "./notifications.js"

/** The connection URL from `storage.postgres.url` or the variable `storage.postgres.secretEnv` names. */
export const postgresUrl = (
  postgres: { readonly url?: string | undefined; readonly secretEnv?: string | undefined },
  env: Readonly<Record<string, string | undefined>>
): Effect.Effect<Redacted.Redacted<string>, StorageError> => {
  if (postgres.url !== undefined) return Effect.succeed(Redacted.make(postgres.url))
  if (postgres.secretEnv !== undefined) {
    const value = env[postgres.secretEnv]
    return value === undefined || value.trim() === ""
      ? Effect.fail(new StorageError({ message: `storage.postgres.secretEnv names ${postgres.secretEnv}, which is not set` }))
      : Effect.succeed(Redacted.make(value.trim()))
  }
  return Effect.fail(new StorageError({ message: "storage.driver is postgres: set storage.postgres.url or storage.postgres.secretEnv" }))
}

/** Where a URL points, for messages: never the password. */
const describe = (url: Redacted.Redacted<string>) => {
  const parsed = URL.canParse(Redacted.value(url)) ? new URL(Redacted.value(url)) : undefined
  return parsed === undefined ? "the configured database" : `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`
}

/**
 * LISTEN on a connection of its own. The pool's connections come and go; a listener must
 * stay, and when its connection drops it reconnects and listens again.
 */
const listen = (url: Redacted.Redacted<string>, channel: string): Stream.Stream<string> =>
  Stream.asyncScoped<string, Error>((emit) =>
    Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const client = new pg.Client({ connectionString: Redacted.value(url), application_name: "miko-listen" })
          client.on("notification", (message) => {
            if (message.channel === channel && message.payload !== undefined) void emit.single(message.payload)
          })
          client.on("error", (error) => void emit.fail(error))
          client.on("end", () => void emit.fail(new Error("connection ended")))
          await client.connect()
          await client.query(`LISTEN ${client.escapeIdentifier(channel)}`)
          return client
        },
        catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
      }),
      (client) => Effect.promise(() => client.end().catch(() => undefined)).pipe(Effect.timeoutOption(Duration.seconds(1)))
    )
  ).pipe(
    Stream.retry(Schedule.spaced(Duration.seconds(1))),
    Stream.orDie
  )

/** A migrated `SqlClient` on `storage.postgres`, with NOTIFY between the replicas. */
export const layerPostgres = (
  env: Readonly<Record<string, string | undefined>>
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError, BaseConfig> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const { resolved } = yield* BaseConfig
      const settings = resolved.config.storage.postgres
      const url = yield* postgresUrl(settings, env)
      const client = PgClient.layer({
        url,
        maxConnections: settings.maxConnections,
        connectTimeout: Duration.seconds(5),
        applicationName: "miko"
      })
      const notifications = Layer.effect(
        Notifications,
        Effect.map(PgClient.PgClient, (sql) =>
          Notifications.of({
            shared: true,
            publish: (channel, payload) =>
              sql.notify(channel, payload).pipe(
                Effect.mapError((error) => new StorageError({ message: `notifying ${channel}: ${error.message}` }))
              ),
            subscribe: (channel) => listen(url, channel)
          }))
      )
      return Layer.provideMerge(Layer.merge(notifications, layerMigrations), client).pipe(
        Layer.catchAll((error) =>
          Layer.fail(new StorageError({ message: `cannot open PostgreSQL at ${describe(url)}: ${String(error.message)}` }))
        )
      )
    })
  )
