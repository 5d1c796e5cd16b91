import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import pg from "pg"
import { StorageError, type StorageSettingsError } from "./errors.js"
import { layerMigrations } from "./migrations.js"
import { Notifications } from "./notifications.js"
import { Environment } from "../shared/environment.js"
import { type PostgresSettings, postgresUrl } from "./settings.js"

/** The first line of what went wrong underneath a client error. */
const causeOf = (error: unknown): string => {
  const cause = typeof error === "object" && error !== null && "cause" in error ? error.cause : undefined
  return cause instanceof Error && cause.message !== "" ? `: ${cause.message.split("\n")[0]}` : ""
}

/** Where a URL points, for messages: never the password. */
const describe = (url: Redacted.Redacted<string>) => {
  const parsed = URL.canParse(Redacted.value(url)) ? new URL(Redacted.value(url)) : undefined
  return parsed === undefined ? "the configured database" : `${parsed.hostname}:${parsed.port || "5432"}${parsed.pathname}`
}

interface Message {
  readonly channel: string
  readonly payload: string
}

/**
 * One LISTEN connection for every channel this replica follows. The pool's connections come
 * and go; a listener must stay, and when its connection drops it reconnects and listens again
 * (what was sent in between is lost, which the replicas' periodic checks make up for).
 */
const makeListener = (url: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const hub = yield* PubSub.unbounded<Message>()
    const channels = yield* Ref.make<ReadonlySet<string>>(new Set())
    const connected = yield* Ref.make<pg.Client | undefined>(undefined)

    const listenOn = (client: pg.Client, channel: string) =>
      Effect.tryPromise({
        try: () => client.query(`LISTEN ${client.escapeIdentifier(channel)}`),
        catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
      })

    /** One connection's life: connect, listen to every channel, wait until it drops. */
    const session = Effect.scoped(
      Effect.gen(function*() {
        const lost = yield* Deferred.make<never, Error>()
        const client = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              const client = new pg.Client({ connectionString: Redacted.value(url), application_name: "miko-listen" })
              client.on("notification", (message) => {
                if (message.payload !== undefined) hub.unsafeOffer({ channel: message.channel, payload: message.payload })
              })
              client.on("error", (error) => Deferred.unsafeDone(lost, Effect.fail(error)))
              client.on("end", () => Deferred.unsafeDone(lost, Effect.fail(new Error("connection ended"))))
              await client.connect()
              return client
            },
            catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
          }),
          (client) => Effect.promise(() => client.end().catch(() => undefined)).pipe(Effect.timeoutOption(Duration.seconds(1)))
        )
        for (const channel of yield* Ref.get(channels)) yield* listenOn(client, channel)
        yield* Ref.set(connected, client)
        return yield* Deferred.await(lost)
      })
    ).pipe(Effect.ensuring(Ref.set(connected, undefined)))

    yield* session.pipe(
      Effect.tapError((error) => Effect.logDebug(`notification connection lost: ${error.message}`)),
      Effect.retry(Schedule.spaced(Duration.seconds(1))),
      Effect.forkScoped
    )

    return (channel: string): Stream.Stream<string> =>
      Stream.unwrapScoped(
        Effect.gen(function*() {
          const messages = yield* PubSub.subscribe(hub)
          const known = yield* Ref.getAndUpdate(channels, (all) => new Set([...all, channel]))
          const client = yield* Ref.get(connected)
          if (!known.has(channel) && client !== undefined) yield* Effect.ignore(listenOn(client, channel))
          return Stream.fromQueue(messages).pipe(
            Stream.filter((message) => message.channel === channel),
            Stream.map((message) => message.payload)
          )
        })
      )
  })

/**
 * A migrated `SqlClient` on a PostgreSQL database, with NOTIFY between the replicas. This module
 * loads `pg`; reach it through `layerPostgres` in ./database.ts, which imports it only when built.
 */
export const layerPostgresEager = (
  settings: PostgresSettings
): Layer.Layer<SqlClient.SqlClient | Notifications, StorageError | StorageSettingsError, Environment> =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const url = yield* postgresUrl(settings, yield* Environment)
      const client = PgClient.layer({
        url,
        maxConnections: settings.maxConnections,
        connectTimeout: Duration.seconds(5),
        applicationName: "miko"
      })
      const notifications = Layer.scoped(
        Notifications,
        Effect.gen(function*() {
          const sql = yield* PgClient.PgClient
          const subscribe = yield* makeListener(url)
          return Notifications.of({
            shared: true,
            // pg_notify takes parameters where NOTIFY takes none.
            publish: (channel, payload) =>
              sql`SELECT pg_notify(${channel}, ${payload})`.pipe(
                Effect.asVoid,
                Effect.mapError((error) => new StorageError({ message: `notifying ${channel}: ${error.message}` }))
              ),
            subscribe
          })
        })
      )
      return Layer.provideMerge(Layer.merge(notifications, layerMigrations), client).pipe(
        Layer.catchAll((error) =>
          Layer.fail(new StorageError({ message: `cannot open PostgreSQL at ${describe(url)}: ${String(error.message)}${causeOf(error)}` }))
        )
      )
    })
  )
