import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { StorageError, storageError } from "../storage/errors.js"
import { Notifications } from "../storage/notifications.js"
import type { RegistryChange } from "./model.js"
import { storable } from "../shared/storable.js"
import { hasAnAddress, Protocol } from "../shared/address.js"
import { PositiveDurationString } from "../shared/duration.js"
import { EndpointSource, EndpointStatus, HealthCheck } from "./model.js"
import type { EndpointRecord } from "./record.js"

/** What every stored registration carries, whichever version of Miko wrote it. */
const storedRegistrationFields = {
  id: Schema.optionalWith(Schema.String, { exact: true }),
  publicAddress: Schema.optionalWith(Schema.String, { exact: true }),
  internalAddress: Schema.optionalWith(Schema.String, { exact: true }),
  zone: Schema.optionalWith(Schema.String, { exact: true }),
  ttl: Schema.optionalWith(PositiveDurationString, { exact: true }),
  check: Schema.optionalWith(HealthCheck, { exact: true })
}

/**
 * A registration as stored: the shape and types every reader of it relies on. What may be
 * registered (address forms, bounds, lengths) was checked when it was accepted; a start-up reads
 * every stored endpoint, and checking those rules again would double its time to ready. Bodies
 * are written with every default filled in, so these fields are required: defaults in a Schema
 * cost a transformation each, which halves the decoding of a large directory.
 */
const StoredRegistration = Schema.Struct({
  ...storedRegistrationFields,
  protocol: Protocol,
  weight: Schema.Number,
  tags: Schema.Array(Schema.String),
  metadata: Schema.Record({ key: Schema.String, value: Schema.String })
}).pipe(Schema.filter(hasAnAddress))

/** The same with defaults, for a body some earlier writer left without them. */
const LenientRegistration = Schema.Struct({
  ...storedRegistrationFields,
  protocol: Schema.optionalWith(Protocol, { default: () => "http" as const }),
  weight: Schema.optionalWith(Schema.Number, { default: () => 1 }),
  tags: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  metadata: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
}).pipe(Schema.filter(hasAnAddress))

const storedBodyFields = {
  registeredAt: Schema.Number,
  lastSeenAt: Schema.Number,
  leaseStatus: Schema.Literal("passing", "critical"),
  checkStatus: Schema.NullOr(EndpointStatus),
  criticalSince: Schema.NullOr(Schema.Number)
}

/** An endpoint as one JSON text in the database (its row and its change-log entries), every field written. */
const StoredBody = Schema.parseJson(Schema.Struct({
  ...storedBodyFields,
  registration: StoredRegistration,
  source: EndpointSource,
  connection: Schema.NullOr(Schema.String)
}))

/** The same with the defaults an earlier writer may have left out. */
const LenientBody = Schema.parseJson(Schema.Struct({
  ...storedBodyFields,
  registration: LenientRegistration,
  source: Schema.optionalWith(EndpointSource, { exact: true, default: () => "registered" as const }),
  connection: Schema.optionalWith(Schema.NullOr(Schema.String), { exact: true, default: () => null })
}))

/** One entry of the change log: the change and the endpoint as it left it (as it was, for a removal). */
export interface LoggedChange {
  readonly change: RegistryChange
  readonly record: EndpointRecord
}

/**
 * The directory in the database: the endpoints, and a log of every change under one index
 * that all replicas share. Writers hold the index row while they write, so changes from
 * different replicas take consecutive indexes and every replica replays them in one order.
 */
export class RegistryStore extends Context.Tag("miko/registry/RegistryStore")<RegistryStore, {
  readonly load: Effect.Effect<{ readonly index: number; readonly records: ReadonlyArray<EndpointRecord> }, StorageError>
  /**
   * Runs `body` in one transaction that holds the directory's write lock; `body` gets the
   * last committed index.
   */
  readonly transaction: <A, E, R>(body: (index: number) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | StorageError, R>
  /** Runs `body` in a savepoint of the transaction in progress: a failure undoes only what `body` wrote. */
  readonly savepoint: <A, E, R>(body: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StorageError, R>
  /** Writes one change: the endpoint (or its removal) and the log entry, at `change.index`. */
  readonly commit: (entry: LoggedChange) => Effect.Effect<void, StorageError>
  /** Saves an endpoint without a change: a renewed lease callers need not hear about. */
  readonly touch: (record: EndpointRecord) => Effect.Effect<void, StorageError>
  /** Saves lease renewals (endpoint id, last heartbeat) in one statement, leaving the bodies as they are. */
  readonly renew: (renewals: ReadonlyArray<readonly [string, number]>) => Effect.Effect<void, StorageError>
  readonly get: (id: string) => Effect.Effect<EndpointRecord | undefined, StorageError>
  /** Logged changes after `index`, oldest first, at most `limit`. */
  readonly changesSince: (index: number, limit: number) => Effect.Effect<ReadonlyArray<LoggedChange>, StorageError>
  /** Drops log entries more than `keep` changes old. */
  readonly trim: (keep: number) => Effect.Effect<void, StorageError>
  /** Tells every replica the index moved. */
  readonly announce: (index: number) => Effect.Effect<void, StorageError>
  /** Indexes announced by any replica. */
  readonly announcements: Stream.Stream<number>
}>() {}

const channel = "miko_registry"

const encodeBody = storable(StoredBody)
const decodeStrict = Schema.decodeUnknownEither(StoredBody)
const decodeLenient = Schema.decodeUnknownEither(LenientBody)
/** The usual body decodes on the fast path; one from an earlier writer is read with the defaults. */
const decodeBody = (body: string) => Either.orElse(decodeStrict(body), () => decodeLenient(body))

const toBody = (record: EndpointRecord): Either.Either<string, StorageError> =>
  Either.mapLeft(
    encodeBody({
      registration: record.registration,
      source: record.source,
      registeredAt: record.registeredAt,
      lastSeenAt: record.lastSeenAt,
      leaseStatus: record.leaseStatus,
      checkStatus: record.checkStatus ?? null,
      criticalSince: record.criticalSince ?? null,
      connection: record.connection ?? null
    }),
    (error) => new StorageError({ message: `endpoint ${record.registration.id} would not read back as stored: ${error.message}` })
  )

/** The endpoint a stored body holds, or why it no longer reads as one (an older version, a manual edit). */
const recordOf = (service: string, id: string, body: string): Either.Either<EndpointRecord, string> =>
  Either.match(decodeBody(body), {
    onLeft: (error) => Either.left(`skipping stored endpoint ${id} of service ${service}: it no longer reads as an endpoint: ${error.message}`),
    onRight: (stored) =>
      Either.right({
        service,
        registration: { ...stored.registration, id: stored.registration.id ?? id },
        source: stored.source,
        registeredAt: stored.registeredAt,
        lastSeenAt: stored.lastSeenAt,
        leaseStatus: stored.leaseStatus,
        checkStatus: stored.checkStatus ?? undefined,
        criticalSince: stored.criticalSince ?? undefined,
        connection: stored.connection ?? undefined
      })
  })

/** The endpoints stored bodies hold; what no longer decodes is reported and skipped. */
interface EndpointRow {
  readonly service: string
  readonly id: string
  readonly body: string
  /** The last renewal saved without the body (a BIGINT: a string from PostgreSQL). */
  readonly last_seen_at?: number | string | null | undefined
}

/** The body's last heartbeat, or a later renewal saved beside it. */
const withRenewal = (record: EndpointRecord, renewed: EndpointRow["last_seen_at"]): EndpointRecord =>
  renewed === null || renewed === undefined || Number(renewed) <= record.lastSeenAt ? record : { ...record, lastSeenAt: Number(renewed) }

const decodeRows = (rows: ReadonlyArray<EndpointRow>) =>
  Effect.suspend(() => {
    // A plain loop: a start-up decodes every stored endpoint, and most directories have no bad row.
    const records: Array<EndpointRecord> = []
    const skipped: Array<string> = []
    for (const row of rows) {
      Either.match(recordOf(row.service, row.id, row.body), {
        onLeft: (why) => skipped.push(why),
        onRight: (record) => records.push(withRenewal(record, row.last_seen_at))
      })
    }
    return Effect.as(Effect.forEach(skipped, (why) => Effect.logError(why), { discard: true }), records)
  })

const fromRow = (row: EndpointRow): Effect.Effect<EndpointRecord | undefined> => Effect.map(decodeRows([row]), (records) => records[0])

/** The most renewals one statement saves. */
const largestBatch = 512

/**
 * Renewals in batches whose sizes are powers of two up to `largestBatch`, the last one filled up
 * with repeats of its final renewal (saving the same time twice changes nothing): a handful of
 * statement shapes that the driver prepares once and keeps, instead of a new one for every count.
 */
export const renewalBatches = <A>(renewals: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const batches: Array<ReadonlyArray<A>> = []
  for (let start = 0; start < renewals.length; start += largestBatch) {
    const batch = renewals.slice(start, start + largestBatch)
    let size = 1
    while (size < batch.length) size *= 2
    batches.push(batch.concat(Array.from({ length: size - batch.length }, () => batch[batch.length - 1]!)))
  }
  return batches
}

const present = <A>(values: ReadonlyArray<A | undefined>): Array<A> => values.filter((value): value is A => value !== undefined)

export const layerSql: Layer.Layer<RegistryStore, never, SqlClient.SqlClient | Notifications> = Layer.effect(
  RegistryStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const notifications = yield* Notifications

    const upsert = (record: EndpointRecord, body: string) =>
      sql`INSERT INTO endpoints (id, service, body, updated_at)
          VALUES (${record.registration.id}, ${record.service}, ${body}, ${new Date().toISOString()})
          ON CONFLICT (id) DO UPDATE SET service = excluded.service, body = excluded.body, updated_at = excluded.updated_at`

    const remove = (id: string) =>
      Effect.zipRight(sql`DELETE FROM endpoints WHERE id = ${id}`, sql`DELETE FROM endpoint_renewals WHERE id = ${id}`)

    /**
     * Each endpoint with its last saved renewal, which may be later than its body's: the later of
     * its renewal row and the column of `endpoints` where versions before the table saved them.
     */
    const endpointRows = sql`SELECT e.id, e.service, e.body,
        CASE WHEN r.last_seen_at IS NULL OR e.last_seen_at > r.last_seen_at THEN e.last_seen_at ELSE r.last_seen_at END AS last_seen_at
      FROM endpoints e LEFT JOIN endpoint_renewals r ON r.id = e.id`

    // An upsert that changes nothing still locks the row until commit, in both dialects.
    const lockIndex = sql<{ value: number | string }>`INSERT INTO registry_state (name, value) VALUES ('index', 1)
      ON CONFLICT (name) DO UPDATE SET value = registry_state.value RETURNING value`

    /** `body` in a transaction (a savepoint when one is already open); what the database refuses is a StorageError. */
    const inTransaction = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      sql.withTransaction(body).pipe(
        Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(storageError("writing the directory")(error)))
      )

    return RegistryStore.of({
      load: Effect.gen(function*() {
        const rows = yield* sql<EndpointRow>`${endpointRows}`
        const index = yield* sql<{ value: number | string }>`SELECT value FROM registry_state WHERE name = 'index'`
        return { index: Number(index[0]?.value ?? 1), records: yield* decodeRows(rows) }
      }).pipe(Effect.mapError(storageError("loading endpoints"))),
      transaction: (body) =>
        inTransaction(Effect.flatMap(Effect.mapError(lockIndex, storageError("locking the directory")), (rows) => body(Number(rows[0]?.value ?? 0)))),
      // Nested inside `transaction`, @effect/sql makes this a savepoint.
      savepoint: inTransaction,
      commit: ({ change, record }) =>
        Effect.flatMap(toBody(record), (body) =>
          Effect.all([
            change.type === "deregistered" ? remove(record.registration.id) : upsert(record, body),
            sql`INSERT INTO registry_changes (idx, type, service, endpoint_id, body)
                VALUES (${change.index}, ${change.type}, ${change.service}, ${change.endpointId}, ${body})`,
            sql`UPDATE registry_state SET value = ${change.index} WHERE name = 'index'`
          ], { discard: true }).pipe(Effect.mapError(storageError(`saving change ${change.index} of endpoint ${change.endpointId}`)))),
      touch: (record) =>
        Effect.flatMap(toBody(record), (body) =>
          upsert(record, body).pipe(Effect.asVoid, Effect.mapError(storageError(`saving endpoint ${record.registration.id}`)))),
      // One statement for each batch; both dialects name the columns of a VALUES list column1, column2.
      // DISTINCT drops the repeats that fill a batch up (PostgreSQL refuses to upsert a row twice in
      // one statement). Renewals come from the directory as the transaction sees it, so every one
      // is of an endpoint still there. `WHERE true` tells SQLite's parser the ON is the upsert's.
      renew: (renewals) =>
        Effect.forEach(renewalBatches(renewals), (batch) =>
          sql`INSERT INTO endpoint_renewals (id, last_seen_at)
            SELECT DISTINCT v.column1, CAST(v.column2 AS BIGINT)
            FROM (VALUES ${sql.csv(batch.map(([id, at]) => sql`(${id}, ${at})`))}) AS v
            WHERE true
            ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at`, { discard: true }).pipe(Effect.mapError(storageError(`saving ${renewals.length} lease renewals`))),
      get: (id) =>
        sql<EndpointRow>`${endpointRows} WHERE e.id = ${id}`.pipe(
          Effect.mapError(storageError(`reading endpoint ${id}`)),
          Effect.flatMap((rows) => (rows[0] === undefined ? Effect.succeed(undefined) : fromRow(rows[0])))
        ),
      changesSince: (index, limit) =>
        sql<{ idx: number | string; type: RegistryChange["type"]; service: string; endpoint_id: string; body: string }>`
          SELECT idx, type, service, endpoint_id, body FROM registry_changes WHERE idx > ${index} ORDER BY idx LIMIT ${limit}`.pipe(
          Effect.mapError(storageError(`reading changes after ${index}`)),
          Effect.flatMap((rows) =>
            Effect.forEach(rows, (row) =>
              Effect.map(fromRow({ service: row.service, id: row.endpoint_id, body: row.body }), (record) =>
                record === undefined
                  ? undefined
                  : { change: { index: Number(row.idx), type: row.type, service: row.service, endpointId: row.endpoint_id }, record }))
          ),
          Effect.map(present)
        ),
      trim: (keep) =>
        sql`DELETE FROM registry_changes WHERE idx <= (SELECT value FROM registry_state WHERE name = 'index') - ${keep}`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError("trimming the change log"))
        ),
      announce: (index) => notifications.publish(channel, String(index)),
      announcements: notifications.subscribe(channel).pipe(
        Stream.map(Number),
        Stream.filter(Number.isFinite)
      )
    })
  })
)
