import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"

/**
 * Every table Miko keeps, in order. Written in the SQL that SQLite and PostgreSQL share
 * (TEXT, BIGINT, `ON CONFLICT`), so both drivers run the same list.
 */
const migrations = {
  "0001_config_overrides": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE config_overrides (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`),
  "0002_auth_bootstrap": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE auth_bootstrap (
      id INTEGER PRIMARY KEY,
      token_hash TEXT NOT NULL,
      created_at TEXT NOT NULL
    )`),
  "0007_scheduler_tasks": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE scheduler_tasks (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      spec TEXT NOT NULL,
      created_at TEXT NOT NULL,
      updated_at TEXT NOT NULL
    )`),
  // Execution ids sort by start time, so (task_id, id) serves "newest first" and pruning.
  "0008_scheduler_executions": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql`CREATE TABLE scheduler_executions (
        id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL,
        trigger_name TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        scheduled_at TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        status TEXT NOT NULL,
        error TEXT,
        result TEXT
      )`,
      sql`CREATE INDEX scheduler_executions_task ON scheduler_executions (task_id, id)`
    )),
  "0005_registry_endpoints": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql`CREATE TABLE endpoints (
        id TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_at TEXT NOT NULL
      )`,
      sql`CREATE INDEX endpoints_service ON endpoints (service)`
    )),
  "0006_registry_state": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE registry_state (
      name TEXT PRIMARY KEY,
      value BIGINT NOT NULL
    )`),
  // Which replica leads (a lease row, renewed on the database's clock) and which are alive.
  "0009_cluster": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql`CREATE TABLE cluster_leases (
        name TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      sql`CREATE TABLE cluster_replicas (
        id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        seen_at BIGINT NOT NULL
      )`
    )),
  // Every directory change with the endpoint as it left it: replicas replay it in index order.
  "0010_registry_changes": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`CREATE TABLE registry_changes (
      idx BIGINT PRIMARY KEY,
      type TEXT NOT NULL,
      service TEXT NOT NULL,
      endpoint_id TEXT NOT NULL,
      body TEXT NOT NULL
    )`),
  // Which replica runs an execution (its runs are closed when it is gone), and one claim per
  // trigger slot so that a slot runs on one replica only, even while leadership moves.
  "0011_scheduler_cluster": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql`ALTER TABLE scheduler_executions ADD COLUMN replica TEXT`,
      sql`CREATE TABLE scheduler_claims (
        task_id TEXT NOT NULL,
        trigger_name TEXT NOT NULL,
        slot BIGINT NOT NULL,
        replica TEXT NOT NULL,
        PRIMARY KEY (task_id, trigger_name, slot)
      )`
    )),
  // Lease renewals land here in batches, without encoding the endpoint's body again.
  "0012_endpoints_last_seen": Effect.flatMap(SqlClient.SqlClient, (sql) => sql`ALTER TABLE endpoints ADD COLUMN last_seen_at BIGINT`),
  // Application keys: every kept version of every key (a delete is a version too), each under
  // the change index it took; the newest version of a key is its current state and is never
  // pruned, so versions are not reused and a replica catches up by reading idx > its own.
  "0013_kv": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql`CREATE TABLE kv_versions (
        key TEXT NOT NULL,
        version BIGINT NOT NULL,
        idx BIGINT NOT NULL,
        deleted INTEGER NOT NULL,
        secret INTEGER NOT NULL,
        value TEXT,
        comment TEXT,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (key, version)
      )`,
      sql`CREATE UNIQUE INDEX kv_versions_idx ON kv_versions (idx)`,
      sql`CREATE TABLE kv_state (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
      )`
    ], { discard: true })),
  // Lease renewals in a narrow table of their own: a renewal rewrites a small row, not the page of a
  // whole endpoint body, so saving the renewals of a large fleet writes a few hundred pages, not one each.
  "0014_endpoint_renewals": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.zipRight(
      sql.onDialectOrElse({
        pg: () => sql`CREATE TABLE endpoint_renewals (id TEXT PRIMARY KEY, last_seen_at BIGINT NOT NULL)`,
        // One b-tree instead of a table and its key's index.
        orElse: () => sql`CREATE TABLE endpoint_renewals (id TEXT PRIMARY KEY, last_seen_at BIGINT NOT NULL) WITHOUT ROWID`
      }),
      sql`INSERT INTO endpoint_renewals (id, last_seen_at) SELECT id, COALESCE(last_seen_at, 0) FROM endpoints`
    ))
}

const run = Migrator.make({})

/**
 * Runs pending migrations against whatever `SqlClient` is provided. Replicas starting together
 * on an empty PostgreSQL database race to create the bookkeeping table; the loser tries again
 * and finds the work done.
 */
export const migrate = run({ loader: Migrator.fromRecord(migrations), table: "miko_migrations" }).pipe(
  Effect.retry(Schedule.spaced(Duration.millis(300)).pipe(Schedule.intersect(Schedule.recurs(5))))
)

/** A layer that brings the database up to date when built. */
export const layerMigrations = Layer.effectDiscard(migrate)
