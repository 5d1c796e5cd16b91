import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { Cluster } from "../cluster/service.js"
import { storageError, StorageError } from "../storage/errors.js"
import { Notifications } from "../storage/notifications.js"
import { storable } from "../shared/storable.js"
import { TaskInvalid } from "./errors.js"
import { Execution } from "./model.js"
import { TaskSpec } from "./schema.js"

/** A task created over the API, as kept across restarts. */
export interface StoredTask {
  readonly id: string
  readonly spec: TaskSpec
  readonly createdAt: number
}

/**
 * Tasks created over the API and the executions of every task, in the `scheduler_tasks` and
 * `scheduler_executions` tables. The SQL is the part SQLite and PostgreSQL share; instants are
 * ISO 8601 text, which sorts in time order, and execution ids sort by start.
 */
export class SchedulerStore extends Context.Tag("miko/scheduler/SchedulerStore")<SchedulerStore, {
  /** Stored tasks; rows that no longer decode are reported and skipped. */
  readonly tasks: Effect.Effect<ReadonlyArray<StoredTask>, StorageError>
  /** Saves a task; one whose declaration would not read back is refused, and nothing is written. */
  readonly putTask: (task: StoredTask, now: number) => Effect.Effect<void, StorageError | TaskInvalid>
  readonly removeTask: (id: string) => Effect.Effect<void, StorageError>
  /** Deletes the history of a task. */
  readonly forgetExecutions: (taskId: string) => Effect.Effect<void, StorageError>
  /** Inserts executions, or updates those already written (a run that started, then finished). */
  readonly writeExecutions: (executions: ReadonlyArray<Execution>) => Effect.Effect<void, StorageError>
  /** Keeps the newest `keep` executions of a task. */
  readonly prune: (taskId: string, keep: number) => Effect.Effect<void, StorageError>
  readonly executions: (taskId: string, limit: number) => Effect.Effect<ReadonlyArray<Execution>, StorageError>
  readonly hasExecutions: (taskId: string) => Effect.Effect<boolean, StorageError>
  /** The latest instant any of `triggers` of the task was due, when it ever fired. */
  readonly lastFired: (taskId: string, triggers: ReadonlyArray<string>) => Effect.Effect<Option.Option<number>, StorageError>
  /** Runs left `running` by a replica that is gone (not in `live`) without recording their end. */
  readonly closeDangling: (now: number, reason: string, live: ReadonlySet<string>) => Effect.Effect<number, StorageError>
  /** Takes a trigger slot for this replica; false when another replica already took it. */
  readonly claim: (taskId: string, trigger: string, slot: number) => Effect.Effect<boolean, StorageError>
  /** Forgets claims of slots before `slot`. */
  readonly pruneClaims: (slot: number) => Effect.Effect<void, StorageError>
  /** Tells every replica that the stored tasks changed. */
  readonly announce: Effect.Effect<void, StorageError>
  readonly announcements: Stream.Stream<string>
}>() {}


interface ExecutionRow {
  readonly id: string
  readonly task_id: string
  readonly trigger_name: string
  readonly attempt: number | string
  readonly scheduled_at: string
  readonly started_at: string
  readonly ended_at: string | null
  readonly status: string
  readonly error: string | null
  readonly result: string | null
}

const decodeExecution = Schema.decodeUnknown(Execution)
const encodeSpec = storable(Schema.parseJson(TaskSpec))
const decodeSpec = Schema.decodeUnknownEither(Schema.parseJson(TaskSpec))

const isoOf = (instant: DateTime.Utc) => new Date(DateTime.toEpochMillis(instant)).toISOString()

/** An execution as a row; written by hand rather than through the Schema, as it runs for every record. */
const toRow = (execution: Execution, replica: string) => ({
  id: execution.id,
  task_id: execution.taskId,
  trigger_name: execution.trigger,
  attempt: execution.attempt,
  scheduled_at: isoOf(execution.scheduledAt),
  started_at: isoOf(execution.startedAt),
  ended_at: execution.endedAt === undefined ? null : isoOf(execution.endedAt),
  status: execution.status,
  error: execution.error ?? null,
  result: execution.result ?? null,
  replica
})

const fromRow = (row: ExecutionRow) =>
  decodeExecution({
    id: row.id,
    taskId: row.task_id,
    trigger: row.trigger_name,
    attempt: Number(row.attempt),
    scheduledAt: row.scheduled_at,
    startedAt: row.started_at,
    status: row.status,
    ...(row.ended_at === null ? {} : { endedAt: row.ended_at }),
    ...(row.error === null ? {} : { error: row.error }),
    ...(row.result === null ? {} : { result: row.result })
  }).pipe(Effect.mapError((error) => new StorageError({ message: `execution ${row.id} in the database is unreadable: ${error.message}` })))

const iso = (millis: number) => new Date(millis).toISOString()

/**
 * Rows per INSERT. A statement is prepared once per distinct text, so batches are cut into these
 * few sizes only (64, then 16, 4, 1 for the rest): every shape is prepared once and then reused.
 */
const CHUNK_SIZES = [64, 16, 4, 1] as const

const chunksOf = <A>(rows: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const chunks: Array<ReadonlyArray<A>> = []
  let start = 0
  for (const size of CHUNK_SIZES) {
    while (rows.length - start >= size) {
      chunks.push(rows.slice(start, start + size))
      start += size
    }
  }
  return chunks
}

const channel = "miko_tasks"

export const layerSql: Layer.Layer<SchedulerStore, never, SqlClient.SqlClient | Notifications | Cluster> = Layer.effect(
  SchedulerStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const notifications = yield* Notifications
    const { replicaId } = yield* Cluster

    const tasks = Effect.gen(function*() {
      const rows = yield* sql<{ id: string; name: string; spec: string; created_at: string }>`
        SELECT id, name, spec, created_at FROM scheduler_tasks ORDER BY created_at, id`
      const found: Array<StoredTask> = []
      for (const row of rows) {
        const spec = decodeSpec(row.spec)
        if (Either.isLeft(spec)) {
          yield* Effect.logError(`skipping stored task ${row.id} (${row.name}): it no longer reads as a task: ${spec.left.message}`)
          continue
        }
        found.push({ id: row.id, spec: spec.right, createdAt: Date.parse(row.created_at) })
      }
      return found
    }).pipe(Effect.mapError(storageError("reading tasks")))

    const writeChunk = (rows: ReadonlyArray<ReturnType<typeof toRow>>) =>
      sql`INSERT INTO scheduler_executions ${sql.insert(rows)}
          ON CONFLICT (id) DO UPDATE SET ended_at = excluded.ended_at, status = excluded.status,
            error = excluded.error, result = excluded.result`

    return SchedulerStore.of({
      tasks,
      putTask: (task, now) =>
        Either.match(encodeSpec(task.spec), {
          onLeft: (error) => Effect.fail(new TaskInvalid({ message: `the task would not read back as stored: ${error.message}` })),
          onRight: (spec) =>
            sql`INSERT INTO scheduler_tasks (id, name, spec, created_at, updated_at)
                VALUES (${task.id}, ${task.spec.name}, ${spec}, ${iso(task.createdAt)}, ${iso(now)})
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, spec = excluded.spec, updated_at = excluded.updated_at`.pipe(
              Effect.asVoid,
              Effect.mapError(storageError(`saving task ${task.id}`))
            )
        }),
      removeTask: (id) =>
        sql`DELETE FROM scheduler_tasks WHERE id = ${id}`.pipe(Effect.asVoid, Effect.mapError(storageError(`removing task ${id}`))),
      forgetExecutions: (taskId) =>
        sql`DELETE FROM scheduler_executions WHERE task_id = ${taskId}`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError(`deleting the history of task ${taskId}`))
        ),
      writeExecutions: (executions) =>
        sql.withTransaction(Effect.forEach(chunksOf(executions.map((e) => toRow(e, replicaId))), writeChunk, { discard: true })).pipe(
          Effect.mapError(storageError("recording executions"))
        ),
      prune: (taskId, keep) =>
        sql`DELETE FROM scheduler_executions WHERE task_id = ${taskId} AND id NOT IN (
              SELECT id FROM scheduler_executions WHERE task_id = ${taskId} ORDER BY id DESC LIMIT ${keep})`.pipe(
          Effect.asVoid,
          Effect.mapError(storageError(`pruning the history of task ${taskId}`))
        ),
      executions: (taskId, limit) =>
        sql<ExecutionRow>`SELECT * FROM scheduler_executions WHERE task_id = ${taskId} ORDER BY id DESC LIMIT ${limit}`.pipe(
          Effect.mapError(storageError(`reading the history of task ${taskId}`)),
          Effect.flatMap((rows) => Effect.forEach(rows, fromRow))
        ),
      hasExecutions: (taskId) =>
        sql<{ id: string }>`SELECT id FROM scheduler_executions WHERE task_id = ${taskId} LIMIT 1`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(storageError(`reading the history of task ${taskId}`))
        ),
      lastFired: (taskId, triggers) =>
        triggers.length === 0
          ? Effect.succeed(Option.none())
          : sql<{ last: string | null }>`SELECT MAX(scheduled_at) AS last FROM scheduler_executions
                WHERE task_id = ${taskId} AND ${sql.in("trigger_name", triggers)}`.pipe(
            Effect.map((rows) => Option.map(Option.fromNullable(rows[0]?.last), Date.parse)),
            Effect.mapError(storageError(`reading the history of task ${taskId}`))
          ),
      closeDangling: (now, reason, live) =>
        sql<{ id: string }>`UPDATE scheduler_executions SET status = 'interrupted', ended_at = ${iso(now)}, error = ${reason}
            WHERE status = 'running' AND (replica IS NULL OR NOT (${sql.in("replica", [...live])})) RETURNING id`.pipe(
          Effect.map((rows) => rows.length),
          Effect.mapError(storageError("closing runs left open"))
        ),
      claim: (taskId, trigger, slot) =>
        sql<{ task_id: string }>`INSERT INTO scheduler_claims (task_id, trigger_name, slot, replica)
            VALUES (${taskId}, ${trigger}, ${slot}, ${replicaId}) ON CONFLICT DO NOTHING RETURNING task_id`.pipe(
          Effect.map((rows) => rows.length === 1),
          Effect.mapError(storageError(`claiming the ${trigger} slot of task ${taskId}`))
        ),
      pruneClaims: (slot) =>
        sql`DELETE FROM scheduler_claims WHERE slot < ${slot}`.pipe(Effect.asVoid, Effect.mapError(storageError("pruning slot claims"))),
      announce: notifications.publish(channel, "tasks"),
      announcements: notifications.subscribe(channel)
    })
  })
)
