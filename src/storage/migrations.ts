import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

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
    )`)
}

const run = Migrator.make({})

/** Runs pending migrations against whatever `SqlClient` is provided. */
export const migrate = run({ loader: Migrator.fromRecord(migrations), table: "miko_migrations" })

/** A layer that brings the database up to date when built. */
export const layerMigrations = Layer.effectDiscard(migrate)
