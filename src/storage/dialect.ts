import type * as SqlClient from "@effect/sql/SqlClient"

/**
 * The SQL that differs between the drivers, in one place. Everything else Miko writes is in
 * the SQL that SQLite and PostgreSQL share.
 */

/** The database's clock in milliseconds since the epoch: one clock for every replica. */
export const nowMillis = (sql: SqlClient.SqlClient) =>
  sql.onDialectOrElse({
    pg: () => sql.literal("(extract(epoch from clock_timestamp()) * 1000)::bigint"),
    orElse: () => sql.literal("CAST(unixepoch('subsec') * 1000 AS INTEGER)")
  })
