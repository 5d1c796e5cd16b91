import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { ConfigService } from "../../src/config/index.js"
import { CurrentRun, type Execution, Scheduler } from "../../src/scheduler/index.js"
import { advance, at, iso, layerDatabase, layerScheduler, layerSchedulerOn, makeLog, withScheduler } from "./support.js"

const millis = (execution: Execution, field: "scheduledAt" | "startedAt") => DateTime.toEpochMillis(execution[field])

const summary = (history: ReadonlyArray<Execution>) =>
  [...history].reverse().map((execution) => `${millis(execution, "startedAt") / 1_000}s ${execution.attempt} ${execution.status}`)

describe("retries", () => {
  it.effect("retry up to maxRetries with exponential backoff, each attempt recorded at its instant", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({
        name: "flaky",
        work: Effect.fail(new Error("connection refused")),
        triggers: [{ event: "go" }],
        retry: { maxRetries: 3, backoff: "exponential", delay: Duration.seconds(1) }
      })
      yield* scheduler.fire("go")
      yield* advance("30 seconds")
      const history = yield* scheduler.executions(task.id)
      expect(summary(history)).toEqual(["0s 1 failed", "1s 2 failed", "3s 3 failed", "7s 4 failed"])
      expect(history.map((execution) => millis(execution, "scheduledAt"))).toEqual([7_000, 3_000, 1_000, 0])
      expect(history[0]).toMatchObject({ error: "connection refused", trigger: "event go" })
    }).pipe(withScheduler(layerScheduler())))

  it.effect("fixed backoff, maxDelay caps exponential waits, and a success stops retrying", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const fixed = yield* scheduler.add({
        name: "fixed",
        work: Effect.fail("down"),
        triggers: [{ event: "go" }],
        retry: { maxRetries: 2, backoff: "fixed", delay: Duration.seconds(5) }
      })
      const capped = yield* scheduler.add({
        name: "capped",
        work: Effect.fail("down"),
        triggers: [{ event: "go" }],
        retry: { maxRetries: 4, backoff: "exponential", delay: Duration.seconds(1), maxDelay: Duration.seconds(3) }
      })
      const calls = yield* Ref.make(0)
      const healing = yield* scheduler.add({
        name: "healing",
        work: Effect.flatMap(Ref.updateAndGet(calls, (n) => n + 1), (n) => (n < 3 ? Effect.fail("not yet") : Effect.succeed({ rows: 3 }))),
        triggers: [{ event: "go" }],
        retry: { maxRetries: 5, backoff: "fixed", delay: Duration.seconds(2) }
      })
      yield* scheduler.fire("go")
      yield* advance("1 minute")
      expect(summary(yield* scheduler.executions(fixed.id))).toEqual(["0s 1 failed", "5s 2 failed", "10s 3 failed"])
      expect(summary(yield* scheduler.executions(capped.id))).toEqual(["0s 1 failed", "1s 2 failed", "3s 3 failed", "6s 4 failed", "9s 5 failed"])
      const healed = yield* scheduler.executions(healing.id)
      expect(summary(healed)).toEqual(["0s 1 failed", "2s 2 failed", "4s 3 succeeded"])
      expect(healed[0]?.result).toBe("{\"rows\":3}")
    }).pipe(withScheduler(layerScheduler())))

  it.effect("retry jitter lengthens each wait by at most the jitter", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({
        name: "jittered",
        work: Effect.fail("down"),
        triggers: [{ event: "go" }],
        retry: { maxRetries: 5, backoff: "fixed", delay: Duration.seconds(10), jitter: Duration.seconds(2) }
      })
      yield* scheduler.fire("go")
      yield* advance("2 minutes")
      const starts = [...(yield* scheduler.executions(task.id))].reverse().map((execution) => millis(execution, "startedAt"))
      expect(starts.length).toBe(6)
      for (let i = 1; i < starts.length; i++) {
        const wait = starts[i]! - starts[i - 1]!
        expect(wait).toBeGreaterThanOrEqual(10_000)
        expect(wait).toBeLessThanOrEqual(12_000)
      }
    }).pipe(withScheduler(layerScheduler())))

  it.effect("an attempt over its timeout is interrupted, recorded timed-out, and retried", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({
        name: "slow",
        work: Effect.sleep("1 minute"),
        triggers: [{ event: "go" }],
        timeout: "5 seconds",
        retry: { maxRetries: 1, backoff: "fixed", delay: Duration.seconds(1) }
      })
      yield* scheduler.fire("go")
      yield* advance("30 seconds")
      const history = yield* scheduler.executions(task.id)
      expect(summary(history)).toEqual(["0s 1 timed-out", "6s 2 timed-out"])
      expect(history[0]?.error).toBe("timed out after 5s")
      expect(history[0]?.endedAt).toEqual(DateTime.unsafeMake(11_000))
    }).pipe(withScheduler(layerScheduler())))
})

describe("overlap policies", () => {
  const overlapping = (overlap: "skip" | "queue" | "allow") =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({
        name: `overlap-${overlap}`,
        work: Effect.sleep("2500 millis"),
        triggers: [{ every: Duration.seconds(1) }],
        overlap
      })
      yield* advance("5900 millis")
      return summary(yield* scheduler.executions(task.id)).map((line) => line.replace(/ 1 /, " "))
    })

  it.effect("skip: a firing while a run is going is recorded as skipped", () =>
    Effect.gen(function*() {
      expect(yield* overlapping("skip")).toEqual(["1s succeeded", "2s skipped", "3s skipped", "4s running", "5s skipped"])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("queue: one firing waits for the run going on, further ones are skipped", () =>
    Effect.gen(function*() {
      // The 2s firing waits and starts at 3.5s; the 4s one waits behind it and has not started yet.
      expect(yield* overlapping("queue")).toEqual(["1s succeeded", "3s skipped", "3.5s running", "5s skipped"])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("allow: runs go side by side", () =>
    Effect.gen(function*() {
      expect(yield* overlapping("allow")).toEqual(["1s succeeded", "2s succeeded", "3s succeeded", "4s running", "5s running"])
    }).pipe(withScheduler(layerScheduler())))
})

describe("pause and resume", () => {
  it.effect("a paused task's periodic firings are dropped; runNow still runs it", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      const task = yield* scheduler.add({ name: "tick", work: log.mark, triggers: [{ every: Duration.seconds(10) }] })
      yield* advance("15 seconds")
      expect((yield* scheduler.pause(task.id)).enabled).toBe(false)
      yield* advance("20 seconds")
      expect((yield* scheduler.runNow(task.id)).outcome).toBe("accepted")
      yield* advance("1 second")
      expect((yield* scheduler.resume(task.id)).enabled).toBe(true)
      yield* advance("14 seconds")
      expect(yield* log.instants).toEqual([10_000, 35_000, 40_000, 50_000])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("pausing the whole scheduler stops every task; a one-time firing waits for the resume", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const ticks = yield* makeLog
      const once = yield* makeLog
      yield* scheduler.add({ name: "tick", work: ticks.mark, triggers: [{ every: Duration.seconds(10) }] })
      yield* scheduler.add({ name: "once", work: once.mark, triggers: [{ delay: Duration.seconds(25) }] })
      yield* scheduler.pause()
      expect((yield* scheduler.status).paused).toBe(true)
      yield* advance("40 seconds")
      expect((yield* scheduler.fire("anything")).tasks).toEqual([])
      yield* scheduler.resume()
      yield* advance("15 seconds")
      expect(yield* ticks.instants).toEqual([50_000])
      expect(yield* once.instants).toEqual([40_000])
    }).pipe(withScheduler(layerScheduler())))
})

describe("catch-up after downtime", () => {
  const hourly = (catchUp: boolean, log: Effect.Effect<void>) => ({
    name: "hourly-report",
    work: log,
    triggers: [{ cron: "0 * * * *" }],
    catchUp
  })

  /** Runs a scheduler over the kept database until `until`, then shuts it down. */
  const runUntil = (catchUp: boolean, log: Effect.Effect<void>, until: string) =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      yield* scheduler.add(hourly(catchUp, log))
      yield* advance(Duration.millis(at(until) - (yield* TestClock.currentTimeMillis)))
    }).pipe(withScheduler(layerSchedulerOn()))

  const downtime = (catchUp: boolean) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-01-01T00:30:00Z"))
      const log = yield* makeLog
      yield* runUntil(catchUp, log.mark, "2024-01-01T01:10:00Z")
      // Down from 01:10 to 04:30: the 02:00, 03:00 and 04:00 slots pass unseen.
      yield* TestClock.setTime(at("2024-01-01T04:30:00Z"))
      yield* runUntil(catchUp, log.mark, "2024-01-01T05:10:00Z")
      return yield* log.isos
    })

  it.effect("with catchUp, a missed cron slot fires once on start, not once per slot", () =>
    Effect.gen(function*() {
      expect(yield* downtime(true)).toEqual(["2024-01-01T01:00:00.000Z", "2024-01-01T04:30:00.000Z", "2024-01-01T05:00:00.000Z"])
    }).pipe(Effect.provide(layerDatabase)))

  it.effect("without catchUp, missed slots are not fired", () =>
    Effect.gen(function*() {
      expect(yield* downtime(false)).toEqual(["2024-01-01T01:00:00.000Z", "2024-01-01T05:00:00.000Z"])
    }).pipe(Effect.provide(layerDatabase)))

  it.effect("the catch-up run is recorded against the missed slot", () =>
    Effect.gen(function*() {
      yield* downtime(true)
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ trigger_name: string; scheduled_at: string; started_at: string }>`
        SELECT trigger_name, scheduled_at, started_at FROM scheduler_executions ORDER BY id`
      expect(rows.map((row) => [row.trigger_name, row.scheduled_at, row.started_at])).toEqual([
        ["cron 0 * * * *", "2024-01-01T01:00:00.000Z", "2024-01-01T01:00:00.000Z"],
        ["cron 0 * * * * (catch-up)", "2024-01-01T04:00:00.000Z", "2024-01-01T04:30:00.000Z"],
        ["cron 0 * * * *", "2024-01-01T05:00:00.000Z", "2024-01-01T05:00:00.000Z"]
      ])
    }).pipe(Effect.provide(layerDatabase)))
})

describe("the running-task limit", () => {
  it.effect("is never exceeded, and a live config change applies at once", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const config = yield* ConfigService
      const running = yield* Ref.make(0)
      const peaks = yield* Ref.make<ReadonlyArray<number>>([])
      const work = Effect.acquireUseRelease(
        Effect.flatMap(Ref.updateAndGet(running, (n) => n + 1), (n) => Ref.update(peaks, (all) => [...all, n])),
        () => Effect.sleep("10 seconds"),
        () => Ref.update(running, (n) => n - 1)
      )
      for (let i = 0; i < 10; i++) {
        yield* scheduler.add({ name: `job-${i}`, work, triggers: [{ event: "go" }] })
      }
      yield* scheduler.fire("go")
      yield* advance("1 second")
      expect(yield* scheduler.status).toMatchObject({ running: 2, queued: 8, maxRunningTasks: 2 })
      yield* config.set("scheduler.maxRunningTasks", 5)
      yield* advance("1 second")
      expect(yield* scheduler.status).toMatchObject({ running: 5, queued: 5, maxRunningTasks: 5 })
      yield* config.set("scheduler.maxRunningTasks", 1)
      yield* advance("30 seconds")
      expect(yield* scheduler.status).toMatchObject({ running: 1, queued: 2, maxRunningTasks: 1 })
      // Lowering the limit lets running tasks finish; nothing new starts until below it.
      const afterLowering = (yield* Ref.get(peaks)).slice(5)
      expect(afterLowering.length).toBe(3)
      expect(afterLowering.every((n) => n === 1)).toBe(true)
      expect(Math.max(...(yield* Ref.get(peaks)))).toBe(5)
    }).pipe(withScheduler(layerScheduler({ scheduler: { maxRunningTasks: 2 } }))))
})

describe("history, removal, the change stream and shutdown", () => {
  it.effect("history is newest first and pruned to scheduler.historyRetention", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({ name: "chatty", work: Effect.void, triggers: [{ every: Duration.seconds(1) }] })
      yield* advance("20 seconds")
      const history = yield* scheduler.executions(task.id, 100)
      expect(history.map((execution) => millis(execution, "startedAt") / 1_000)).toEqual([20, 19, 18, 17, 16])
      expect((yield* scheduler.executions(task.id, 2)).length).toBe(2)
    }).pipe(withScheduler(layerScheduler({ scheduler: { historyRetention: 5 } }))))

  it.effect("the work sees its run; the change stream tells starts and ends", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const changes = yield* Stream.runCollect(Stream.take(scheduler.changes, 2)).pipe(Effect.fork)
      yield* Effect.yieldNow()
      const seen = yield* Ref.make("")
      const task = yield* scheduler.add({
        name: "introspective",
        work: Effect.flatMap(CurrentRun, (run) => Ref.set(seen, `${run.taskId} ${run.attempt} ${run.trigger}`)),
        triggers: [{ event: "go" }]
      })
      yield* scheduler.fire("go")
      yield* advance("1 second")
      expect(yield* Ref.get(seen)).toBe(`${task.id} 1 event go`)
      const collected = Chunk.toReadonlyArray(yield* Fiber.join(changes))
      expect(collected.map((change) => [change.type, change.execution.status])).toEqual([["started", "running"], ["finished", "succeeded"]])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("removing a task interrupts its runs and deletes its history; code-only ids are unique", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({ id: "long", name: "long", work: Effect.never, triggers: [{ event: "go" }] })
      expect((yield* Effect.flip(scheduler.add({ id: "long", name: "other", work: Effect.void, triggers: [{ event: "go" }] })))._tag).toBe("TaskExists")
      yield* scheduler.fire("go")
      yield* advance("1 second")
      expect((yield* scheduler.status).running).toBe(1)
      yield* scheduler.remove(task.id)
      expect((yield* scheduler.status).running).toBe(0)
      expect((yield* Effect.flip(scheduler.executions(task.id)))._tag).toBe("TaskNotFound")
      expect((yield* Effect.flip(scheduler.remove(task.id)))._tag).toBe("TaskNotFound")
    }).pipe(withScheduler(layerScheduler())))

  it.effect("shutdown lets a run finish within shutdownTimeout, then interrupts and records the rest", () =>
    Effect.gen(function*() {
      const started = yield* Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const quick = yield* scheduler.add({ name: "quick", work: Effect.sleep("4 seconds"), triggers: [{ event: "go" }] })
        const stuck = yield* scheduler.add({ name: "stuck", work: Effect.sleep("1 hour"), triggers: [{ event: "go" }] })
        const late = yield* scheduler.add({ name: "late", work: Effect.void, triggers: [{ every: Duration.seconds(3) }] })
        yield* scheduler.fire("go")
        yield* advance("1 second")
        return { quick, stuck, late }
      }).pipe(withScheduler(layerSchedulerOn({ general: { shutdownTimeout: "10s" } })))
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ task_id: string; status: string; ended_at: string; error: string | null }>`
        SELECT task_id, status, ended_at, error FROM scheduler_executions ORDER BY id`
      const byTask = (id: string) => rows.filter((row) => row.task_id === id).map((row) => `${row.status} ${row.ended_at}`)
      expect(byTask(started.quick.id)).toEqual([`succeeded ${iso(4_000)}`])
      expect(byTask(started.stuck.id)).toEqual([`interrupted ${iso(11_000)}`])
      // Triggers stop when shutdown begins.
      expect(byTask(started.late.id)).toEqual([])
    }).pipe(Effect.provide(layerDatabase)))
})
