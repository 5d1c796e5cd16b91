import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { nowMillis } from "../storage/dialect.js"
import { storageError, StorageError } from "../storage/errors.js"

export interface ReplicaRow {
  readonly id: string
  readonly address: string
  readonly startedAt: number
  /** Milliseconds since the replica last checked in, on the database's clock. */
  readonly silentFor: number
}

/** Leases and replica check-ins, timed by the database's clock so replicas' clocks never disagree. */
export class ClusterStore extends Context.Tag("miko/cluster/ClusterStore")<ClusterStore, {
  /**
   * Takes or renews the lease when free, expired or already ours. Answers whether we hold it
   * and, when another replica does, how long its lease still runs.
   */
  readonly acquire: (
    lease: string,
    holder: string,
    ttlMillis: number
  ) => Effect.Effect<{ readonly won: boolean; readonly remaining: number }, StorageError>
  readonly release: (lease: string, holder: string) => Effect.Effect<void, StorageError>
  readonly holder: (lease: string) => Effect.Effect<string | undefined, StorageError>
  readonly checkIn: (replica: { readonly id: string; readonly address: string; readonly startedAt: number }) => Effect.Effect<void, StorageError>
  readonly checkOut: (id: string) => Effect.Effect<void, StorageError>
  /** Forgets replicas silent for longer than `millis` (they stopped without checking out). */
  readonly forgetSilent: (millis: number) => Effect.Effect<void, StorageError>
  readonly replicas: Effect.Effect<ReadonlyArray<ReplicaRow>, StorageError>
}>() {}


export const layerSql: Layer.Layer<ClusterStore, never, SqlClient.SqlClient> = Layer.effect(
  ClusterStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = nowMillis(sql)
    return ClusterStore.of({
      acquire: (lease, holder, ttlMillis) =>
        sql<{ holder: string }>`INSERT INTO cluster_leases (name, holder, expires_at) VALUES (${lease}, ${holder}, ${now} + ${ttlMillis})
          ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
          WHERE cluster_leases.holder = excluded.holder OR cluster_leases.expires_at < ${now}
          RETURNING holder`.pipe(
          Effect.flatMap((rows) =>
            rows.length === 1
              ? Effect.succeed({ won: true, remaining: ttlMillis })
              : Effect.map(
                sql<{ remaining: number | string }>`SELECT expires_at - ${now} AS remaining FROM cluster_leases WHERE name = ${lease}`,
                (left) => ({ won: false, remaining: Math.max(0, Number(left[0]?.remaining ?? 0)) })
              )
          ),
          Effect.mapError(storageError(`renewing the ${lease} lease`))
        ),
      release: (lease, holder) =>
        sql`UPDATE cluster_leases SET expires_at = 0 WHERE name = ${lease} AND holder = ${holder}`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError(`releasing the ${lease} lease`))
        ),
      holder: (lease) =>
        sql<{ holder: string }>`SELECT holder FROM cluster_leases WHERE name = ${lease} AND expires_at >= ${now}`.pipe(
          Effect.map((rows) => rows[0]?.holder),
          Effect.mapError(storageError(`reading the ${lease} lease`))
        ),
      checkIn: (replica) =>
        sql`INSERT INTO cluster_replicas (id, address, started_at, seen_at) VALUES (${replica.id}, ${replica.address}, ${replica.startedAt}, ${now})
          ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError("checking in"))
        ),
      checkOut: (id) =>
        sql`DELETE FROM cluster_replicas WHERE id = ${id}`.pipe(Effect.asVoid, Effect.mapError(storageError("checking out"))),
      forgetSilent: (millis) =>
        sql`DELETE FROM cluster_replicas WHERE seen_at < ${now} - ${millis}`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError("forgetting stopped replicas"))
        ),
      replicas: sql<{ id: string; address: string; started_at: number | string; silent_for: number | string }>`
        SELECT id, address, started_at, ${now} - seen_at AS silent_for FROM cluster_replicas ORDER BY started_at`.pipe(
        Effect.map((rows) =>
          rows.map((row) => ({
            id: row.id,
            address: row.address,
            startedAt: Number(row.started_at),
            silentFor: Number(row.silent_for)
          }))
        ),
        Effect.mapError(storageError("listing replicas"))
      )
    })
  })
)
