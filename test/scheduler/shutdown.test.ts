import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Json, type Miko, startMiko } from "../support/miko.js"
import { eventually, startTarget, type Target } from "./target.js"

interface Row {
  readonly task_id: string
  readonly status: string
  readonly started_at: string
  readonly ended_at: string | null
  readonly error: string | null
}

/** The database of the Miko that ran in `dir`: its SQLite file, or the PostgreSQL database the test driver gave it. */
const databaseOf = (dir: string): Layer.Layer<SqlClient.SqlClient, unknown> => {
  const postgres = join(dir, ".postgres-url")
  return existsSync(postgres)
    ? PgClient.layer({ url: Redacted.make(readFileSync(postgres, "utf8").trim()) })
    : SqliteClient.layer({ filename: join(dir, "data", "miko.db"), readonly: true })
}

/** The executions as the database holds them, read after the process is gone. */
const storedExecutions = (dir: string) =>
  Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql<Row>`SELECT task_id, status, started_at, ended_at, error FROM scheduler_executions ORDER BY id`).pipe(
      Effect.provide(databaseOf(dir)),
      Effect.scoped
    )
  )

let target: Target
let miko: Miko

beforeAll(async () => {
  target = await startTarget()
  miko = await startMiko({ config: { general: { shutdownTimeout: "1500ms" } } })
})

afterAll(async () => {
  await miko.stop("SIGKILL")
  await target.close()
  cleanup(miko.dir)
})

describe("controlled shutdown on SIGTERM", () => {
  it("lets a run finish within shutdownTimeout, interrupts one that does not and records it, exits 0", async () => {
    const token = miko.token()
    const create = async (name: string, path: string) => {
      const { status, body } = await api(`${miko.url}/v1/tasks`, {
        method: "POST",
        token,
        body: { name, kind: "http", http: { url: `${target.url}${path}` }, triggers: [{ event: "go" }] }
      })
      expect(status).toBe(201)
      return String(body["id"])
    }
    const finishing = await create("finishing", "/slow?ms=700")
    const hanging = await create("hanging", "/hang")
    expect((await api(`${miko.url}/v1/events/go`, { method: "POST", token })).status).toBe(202)
    // Both requests have reached the target: both runs are going.
    await eventually(async () => target.received.length, (count) => count >= 2)
    const running = await api(`${miko.url}/v1/tasks/${hanging}/executions`, { token })
    expect((running.body as unknown as Array<Json>)[0]).toMatchObject({ status: "running" })

    expect(await miko.stop("SIGTERM")).toBe(0)
    expect(miko.output()).toContain("interrupting 1 task(s) still running after general.shutdownTimeout")

    const rows = await storedExecutions(miko.dir)
    const finished = rows.find((row) => row.task_id === finishing)
    const interrupted = rows.find((row) => row.task_id === hanging)
    expect(finished).toMatchObject({ status: "succeeded" })
    expect(interrupted).toMatchObject({ status: "interrupted", error: "interrupted: the task was removed or Miko shut down" })
    // Interrupted only once the shutdown timeout had passed: the record says so, whatever the machine's speed.
    expect(Date.parse(interrupted!.ended_at!) - Date.parse(interrupted!.started_at)).toBeGreaterThanOrEqual(1_500)
  })
})
