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
import type { KvVersion } from "./model.js"

/**
 * The application keys in the database: every kept version of every key under one change index
 * that all replicas share. A writer holds the index row while it writes, so changes from
 * different replicas take consecutive indexes and every replica applies them in one order.
 */
export class KvStore extends Context.Tag("miko/kv/KvStore")<KvStore, {
  /** The current version of every key (deletions included) and the last change index. */
  readonly load: Effect.Effect<{ readonly index: number; readonly current: ReadonlyArray<KvVersion> }, StorageError>
  /** Runs `body` in one transaction holding the index row; `body` gets the last committed index. */
  readonly transaction: <A, E, R>(body: (index: number) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | StorageError, R>
  /** The newest version of `key` (a deletion included), read inside the transaction. */
  readonly latest: (key: string) => Effect.Effect<KvVersion | undefined, StorageError>
  readonly version: (key: string, version: number) => Effect.Effect<KvVersion | undefined, StorageError>
  /** Writes a new version and moves the index to it. */
  readonly append: (version: KvVersion) => Effect.Effect<void, StorageError>
  /** Drops the versions of `key` up to `through`. */
  readonly prune: (key: string, through: number) => Effect.Effect<void, StorageError>
  /** Kept versions of `key`, newest first. */
  readonly history: (key: string, limit: number) => Effect.Effect<ReadonlyArray<KvVersion>, StorageError>
  /** Versions written after `index`, oldest first. */
  readonly changesSince: (index: number) => Effect.Effect<ReadonlyArray<KvVersion>, StorageError>
  /** Tells every replica the index moved. */
  readonly announce: (index: number) => Effect.Effect<void, StorageError>
  readonly announcements: Stream.Stream<number>
}>() {}

interface VersionRow {
  readonly key: string
  readonly version: number | string
  readonly idx: number | string
  readonly deleted: number | string | boolean
  readonly secret: number | string | boolean
  readonly value: string | null
  readonly comment: string | null
  readonly updated_at: string
  readonly updated_by: string
}

const channel = "miko_kv"
const columns = "key, version, idx, deleted, secret, value, comment, updated_at, updated_by"
const decodeJson = Schema.decodeUnknownEither(Schema.parseJson())
const flag = (value: VersionRow["deleted"]) => value === true || Number(value) === 1

const fromRow = (row: VersionRow): Either.Either<KvVersion, StorageError> =>
  Either.map(
    row.value === null ? Either.right(undefined) : Either.mapLeft(decodeJson(row.value), (error) =>
      new StorageError({ message: `stored value of key ${row.key} version ${row.version} is not JSON: ${error.message}` })),
    (value): KvVersion => ({
      key: row.key,
      version: Number(row.version),
      index: Number(row.idx),
      deleted: flag(row.deleted),
      secret: flag(row.secret),
      value,
      comment: row.comment ?? undefined,
      updatedAt: row.updated_at,
      updatedBy: row.updated_by
    })
  )

const fromRows = (rows: ReadonlyArray<VersionRow>) => Effect.forEach(rows, (row) => fromRow(row))

export const layerSql: Layer.Layer<KvStore, never, SqlClient.SqlClient | Notifications> = Layer.effect(
  KvStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const notifications = yield* Notifications
    const select = sql.literal(columns)

    // An upsert that changes nothing still locks the row until commit, in both dialects.
    const lockIndex = sql<{ value: number | string }>`INSERT INTO kv_state (name, value) VALUES ('index', 0)
      ON CONFLICT (name) DO UPDATE SET value = kv_state.value RETURNING value`

    const read = (action: string, query: Effect.Effect<ReadonlyArray<VersionRow>, SqlError>) =>
      query.pipe(Effect.mapError(storageError(action)), Effect.flatMap(fromRows))

    return KvStore.of({
      load: Effect.gen(function*() {
        const current = yield* read("loading keys", sql<VersionRow>`SELECT ${select} FROM kv_versions v
          WHERE version = (SELECT MAX(version) FROM kv_versions w WHERE w.key = v.key)`)
        const index = yield* sql<{ value: number | string }>`SELECT value FROM kv_state WHERE name = 'index'`.pipe(
          Effect.mapError(storageError("loading the key index"))
        )
        return { index: Number(index[0]?.value ?? 0), current }
      }),
      transaction: (body) =>
        sql.withTransaction(Effect.flatMap(Effect.mapError(lockIndex, storageError("locking the keys")), (rows) => body(Number(rows[0]?.value ?? 0)))).pipe(
          Effect.catchIf((error): error is SqlError => error instanceof SqlError, (error) => Effect.fail(storageError("writing a key")(error)))
        ),
      latest: (key) =>
        Effect.map(
          read(`reading key ${key}`, sql<VersionRow>`SELECT ${select} FROM kv_versions WHERE key = ${key} ORDER BY version DESC LIMIT 1`),
          (versions) => versions[0]
        ),
      version: (key, version) =>
        Effect.map(
          read(`reading key ${key} version ${version}`, sql<VersionRow>`SELECT ${select} FROM kv_versions WHERE key = ${key} AND version = ${version}`),
          (versions) => versions[0]
        ),
      append: (v) =>
        Effect.all([
          sql`INSERT INTO kv_versions (${select}) VALUES (${v.key}, ${v.version}, ${v.index}, ${v.deleted ? 1 : 0}, ${v.secret ? 1 : 0},
            ${v.deleted ? null : JSON.stringify(v.value)}, ${v.comment ?? null}, ${v.updatedAt}, ${v.updatedBy})`,
          sql`UPDATE kv_state SET value = ${v.index} WHERE name = 'index'`
        ], { discard: true }).pipe(Effect.mapError(storageError(`saving key ${v.key} version ${v.version}`))),
      prune: (key, through) =>
        through < 1 ? Effect.void : sql`DELETE FROM kv_versions WHERE key = ${key} AND version <= ${through}`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError(`pruning the history of key ${key}`))
        ),
      history: (key, limit) =>
        read(`reading the history of key ${key}`, sql<VersionRow>`SELECT ${select} FROM kv_versions WHERE key = ${key} ORDER BY version DESC LIMIT ${limit}`),
      changesSince: (index) =>
        read(`reading key changes after ${index}`, sql<VersionRow>`SELECT ${select} FROM kv_versions WHERE idx > ${index} ORDER BY idx`),
      announce: (index) => notifications.publish(channel, String(index)),
      announcements: notifications.subscribe(channel).pipe(Stream.map(Number), Stream.filter(Number.isFinite))
    })
  })
)
