import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { StorageError, storageError } from "../storage/errors.js"
import type { ProtectionStatus } from "./protection.js"

/** The leader's mass-expiry protection, as the other replicas show it (each with its own threshold). */
export type SharedProtection = Omit<ProtectionStatus, "threshold">

export interface ProtectionStore {
  readonly save: (state: SharedProtection) => Effect.Effect<void, StorageError>
  readonly load: Effect.Effect<SharedProtection | undefined, StorageError>
}

/**
 * Rows of `registry_state` beside the change index, never the index row itself: writing them
 * does not wait on, nor hold up, writers of the directory.
 */
export const makeProtectionStore = (sql: SqlClient.SqlClient): ProtectionStore => ({
  save: ({ active, leased, lapsing }) =>
    sql`INSERT INTO registry_state (name, value)
        VALUES ('protection_active', ${active ? 1 : 0}), ('protection_leased', ${leased}), ('protection_lapsing', ${lapsing})
        ON CONFLICT (name) DO UPDATE SET value = excluded.value`.pipe(Effect.asVoid, Effect.mapError(storageError("saving the protection state"))),
  load: sql<{ name: string; value: number | string }>`SELECT name, value FROM registry_state
      WHERE name IN ('protection_active', 'protection_leased', 'protection_lapsing')`.pipe(
    Effect.map((rows) => {
      const value = (name: string) => Number(rows.find((row) => row.name === `protection_${name}`)?.value ?? 0)
      return rows.length === 0 ? undefined : { active: value("active") === 1, leased: value("leased"), lapsing: value("lapsing") }
    }),
    Effect.mapError(storageError("reading the protection state"))
  )
})
