import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StorageError } from "../storage/errors.js"
import { decodeRegistration, encodeRegistration, type EndpointRecord } from "./record.js"

interface Row {
  readonly id: string
  readonly service: string
  readonly body: string
}

interface Stored {
  readonly registration: unknown
  readonly registeredAt: number
  readonly lastSeenAt: number
  readonly leaseStatus: EndpointRecord["leaseStatus"]
  readonly checkStatus: EndpointRecord["checkStatus"] | null
  readonly criticalSince: number | null
  readonly connection?: string | null
}

/** Registered endpoints and the change index, kept across restarts. Static ones live in config. */
export class RegistryStore extends Context.Tag("miko/registry/RegistryStore")<RegistryStore, {
  readonly load: Effect.Effect<{ readonly index: number; readonly records: ReadonlyArray<EndpointRecord> }, StorageError>
  readonly save: (record: EndpointRecord, index: number) => Effect.Effect<void, StorageError>
  readonly remove: (id: string, index: number) => Effect.Effect<void, StorageError>
  readonly saveIndex: (index: number) => Effect.Effect<void, StorageError>
}>() {}

const toBody = (record: EndpointRecord): string =>
  JSON.stringify({
    registration: encodeRegistration(record.registration),
    registeredAt: record.registeredAt,
    lastSeenAt: record.lastSeenAt,
    leaseStatus: record.leaseStatus,
    checkStatus: record.checkStatus ?? null,
    criticalSince: record.criticalSince ?? null,
    connection: record.connection ?? null
  } satisfies Stored)

const fromRow = (row: Row): EndpointRecord => {
  const stored = JSON.parse(row.body) as Stored
  return {
    service: row.service,
    registration: decodeRegistration(stored.registration) as EndpointRecord["registration"],
    source: "registered",
    registeredAt: stored.registeredAt,
    lastSeenAt: stored.lastSeenAt,
    leaseStatus: stored.leaseStatus,
    checkStatus: stored.checkStatus ?? undefined,
    criticalSince: stored.criticalSince ?? undefined,
    connection: stored.connection ?? undefined
  }
}

const failed = (action: string) => (error: { readonly message: string }) => new StorageError({ message: `${action}: ${error.message}` })

export const layerSql: Layer.Layer<RegistryStore, never, SqlClient.SqlClient> = Layer.effect(
  RegistryStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const saveIndex = (index: number) =>
      sql`INSERT INTO registry_state (name, value) VALUES ('index', ${index})
          ON CONFLICT (name) DO UPDATE SET value = excluded.value`
    return RegistryStore.of({
      load: Effect.gen(function*() {
        const rows = yield* sql<Row>`SELECT id, service, body FROM endpoints`
        const index = yield* sql<{ value: number }>`SELECT value FROM registry_state WHERE name = 'index'`
        return { index: Number(index[0]?.value ?? 0), records: rows.map(fromRow) }
      }).pipe(Effect.mapError(failed("loading endpoints"))),
      save: (record, index) =>
        sql.withTransaction(
          Effect.zipRight(
            sql`INSERT INTO endpoints (id, service, body, updated_at)
                VALUES (${record.registration.id}, ${record.service}, ${toBody(record)}, ${new Date().toISOString()})
                ON CONFLICT (id) DO UPDATE SET service = excluded.service, body = excluded.body, updated_at = excluded.updated_at`,
            saveIndex(index)
          )
        ).pipe(Effect.asVoid, Effect.mapError(failed(`saving endpoint ${record.registration.id}`))),
      remove: (id, index) =>
        sql.withTransaction(Effect.zipRight(sql`DELETE FROM endpoints WHERE id = ${id}`, saveIndex(index))).pipe(
          Effect.asVoid,
          Effect.mapError(failed(`removing endpoint ${id}`))
        ),
      saveIndex: (index) => saveIndex(index).pipe(Effect.asVoid, Effect.mapError(failed("saving the change index")))
    })
  })
)
