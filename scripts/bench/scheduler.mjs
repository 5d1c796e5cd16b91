// The scheduler under load, side by side with a plain baseline in the same run. Build first
// (`npm run build`), then `node scripts/bench/scheduler.mjs`; add `--write` to put the figures
// into docs/benchmarks.md, or `--smoke` for a run of a few seconds with 100 tasks.
//
// 1. Trigger lateness: 10,000 tasks with no-op work, each `every 10s`, their grids spread one
//    millisecond apart (startAt), so together they fire 1,000 times a second. Lateness is the time
//    from the instant a firing was due until its work starts (waiting for a slot included).
//    Baseline: the same due instants, each run started by `Effect.forEach` with the same
//    concurrency after sleeping until its instant.
// 2. Dispatch throughput: 10,000 tasks waiting for one event; the event is raised once and the
//    clock runs until every run has finished. Baseline: `Effect.forEach` over 10,000 no-op runs
//    with the same concurrency.
//
// Both use the real scheduler: SQLite in a temporary data dir, every execution recorded.
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Ref from "effect/Ref"
import { mkdtempSync, rmSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import * as Config from "../../dist/config/index.js"
import { layerCluster, layerDatabaseFromConfig } from "../../dist/index.js"
import * as Scheduler from "../../dist/scheduler/index.js"
import { checkFigures, percentile, smoke, writeSection } from "./lib.mjs"

// Smoke mode: 100 tasks firing 200 times a second over two half-second periods.
const TASKS = smoke ? 100 : 10_000
const PERIOD_MS = smoke ? 500 : 10_000
const CYCLES = smoke ? 2 : 3
const CONCURRENCY = 8
/** From now until the first due instant; short periods need a short lead, or the first measured period would be mostly empty. */
const LEAD_MS = Math.min(1_000, PERIOD_MS / 5)
const write = process.argv.includes("--write") && !smoke

/** Wall-clock time with sub-millisecond resolution, in epoch milliseconds. */
const preciseNow = () => performance.timeOrigin + performance.now()

// The scheduler runs API and config tasks on the cluster's leader: `layerCluster` (as the
// library's composed layers use it) makes this process the one replica on its SQLite file.
const layerFor = (dataDir) =>
  Scheduler.layer.pipe(
    Layer.provideMerge(layerCluster),
    Layer.provideMerge(Config.layer.pipe(Layer.provide(Config.layerStoreMemory))),
    Layer.provideMerge(layerDatabaseFromConfig({})),
    Layer.provideMerge(Config.layerFromObject({ general: { dataDir }, scheduler: { maxRunningTasks: CONCURRENCY } })),
    Layer.provideMerge(NodeContext.layer),
    Layer.provide(Logger.minimumLogLevel(LogLevel.Warning))
  )

const withScheduler = (body) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), "miko-bench-scheduler-"))
    const result = yield* Effect.scoped(Effect.flatMap(Scheduler.Scheduler, body).pipe(Effect.provide(layerFor(dir))))
    rmSync(dir, { recursive: true, force: true })
    return result
  })

const summarize = (samples) => ({
  count: samples.length,
  p50: percentile(samples, 50),
  p99: percentile(samples, 99),
  max: Math.max(...samples)
})

/**
 * Phase 1 under the scheduler: lateness samples (ms) of the firings after one warm-up period.
 * Tasks are registered while the scheduler is paused (slots passing meanwhile are dropped), so
 * however long registration takes, measuring starts on a steady 1,000 firings a second.
 */
const schedulerLateness = withScheduler((scheduler) =>
  Effect.gen(function*() {
    const samples = []
    let measureFrom = Infinity
    let measureUntil = Infinity
    const work = Effect.flatMap(Scheduler.CurrentRun, (run) =>
      Effect.sync(() => {
        if (run.scheduledAt >= measureFrom && run.scheduledAt < measureUntil) samples.push(preciseNow() - run.scheduledAt)
      }))
    yield* scheduler.pause()
    const first = Date.now() + LEAD_MS
    const registering = performance.now()
    for (let i = 0; i < TASKS; i++) {
      yield* scheduler.add({
        name: `tick-${i}`,
        work,
        triggers: [{ every: Duration.millis(PERIOD_MS), startAt: DateTime.unsafeMake(first + i * (PERIOD_MS / TASKS)) }]
      })
    }
    const registrationMs = performance.now() - registering
    yield* scheduler.resume()
    measureFrom = Date.now() + PERIOD_MS
    measureUntil = measureFrom + PERIOD_MS * (CYCLES - 1)
    yield* Effect.sleep(Duration.millis(PERIOD_MS * CYCLES + 500))
    return { samples, registrationMs, dueRuns: TASKS * (CYCLES - 1) }
  }))

/** Phase 1 baseline: the same due instants, started by Effect.forEach with the same concurrency. */
const baselineLateness = Effect.gen(function*() {
  const samples = []
  const first = Date.now() + LEAD_MS
  const due = []
  for (let cycle = 0; cycle < CYCLES - 1; cycle++) {
    for (let i = 0; i < TASKS; i++) due.push(first + cycle * PERIOD_MS + i * (PERIOD_MS / TASKS))
  }
  yield* Effect.forEach(
    due,
    (instant) =>
      Effect.zipRight(
        Effect.suspend(() => Effect.sleep(Duration.millis(Math.max(0, instant - Date.now())))),
        Effect.sync(() => samples.push(preciseNow() - instant))
      ),
    { concurrency: CONCURRENCY, discard: true }
  )
  return { samples }
})

/** Phase 2 under the scheduler: one event, 10,000 runs; time until the last has finished. */
const schedulerThroughput = withScheduler((scheduler) =>
  Effect.gen(function*() {
    const done = yield* Deferred.make()
    const finished = yield* Ref.make(0)
    const work = Effect.flatMap(Ref.updateAndGet(finished, (n) => n + 1), (n) => (n === TASKS ? Deferred.succeed(done, undefined) : Effect.void))
    for (let i = 0; i < TASKS; i++) {
      yield* scheduler.add({ name: `burst-${i}`, work, triggers: [{ event: "burst" }] })
    }
    const started = performance.now()
    yield* scheduler.fire("burst")
    yield* Deferred.await(done)
    return { ms: performance.now() - started }
  }))

const baselineThroughput = Effect.gen(function*() {
  const finished = yield* Ref.make(0)
  const started = performance.now()
  yield* Effect.forEach(Array.from({ length: TASKS }), () => Ref.update(finished, (n) => n + 1), { concurrency: CONCURRENCY, discard: true })
  return { ms: performance.now() - started }
})

const program = Effect.gen(function*() {
  console.log(`scheduler benchmark: ${TASKS} tasks, concurrency ${CONCURRENCY}, node ${process.version}, ${cpus().length} CPUs`)
  const base1 = yield* baselineLateness
  const sched1 = yield* schedulerLateness
  const base2 = yield* baselineThroughput
  const sched2 = yield* schedulerThroughput
  return { base1, sched1, base2, sched2 }
})

const { base1, sched1, base2, sched2 } = await Effect.runPromise(program)
const lateBase = summarize(base1.samples)
const lateSched = summarize(sched1.samples)
const rateBase = TASKS / (base2.ms / 1_000)
const rateSched = TASKS / (sched2.ms / 1_000)
const f = (n, digits = 2) => n.toFixed(digits)
const ratio = (a, b) => (b === 0 ? "∞" : f(a / b, 1))

const table = [
  `| | plain \`Effect.forEach\` | Miko scheduler | ratio scheduler / plain |`,
  `| --- | ---: | ---: | ---: |`,
  `| lateness p50 (ms) | ${f(lateBase.p50)} | ${f(lateSched.p50)} | ${ratio(lateSched.p50, lateBase.p50)} |`,
  `| lateness p99 (ms) | ${f(lateBase.p99)} | **${f(lateSched.p99)}** | ${ratio(lateSched.p99, lateBase.p99)} |`,
  `| lateness max (ms) | ${f(lateBase.max)} | ${f(lateSched.max)} | |`,
  `| firings measured | ${lateBase.count} | ${lateSched.count} of ${sched1.dueRuns} | |`,
  `| dispatch: ${TASKS.toLocaleString("en")} runs (ms) | ${f(base2.ms, 1)} | ${f(sched2.ms, 1)} | ${ratio(sched2.ms, base2.ms)} |`,
  `| dispatch throughput (runs/s) | ${Math.round(rateBase)} | **${Math.round(rateSched)}** | ${f(rateSched / rateBase, 4)} |`
].join("\n")

console.log(table)
console.log(`registering ${TASKS} tasks took ${f(sched1.registrationMs, 0)} ms`)
checkFigures("scheduler", {
  "plain lateness p99": lateBase.p99, "scheduler lateness p99": lateSched.p99, "firings measured": lateSched.count,
  "plain dispatch runs/s": rateBase, "scheduler dispatch runs/s": rateSched, "ratio scheduler / plain": rateSched / rateBase
})

if (write) {
  writeSection("scheduler", `## Scheduler (\`scripts/bench/scheduler.mjs\`)

\`node scripts/bench/scheduler.mjs --write\` after \`npm run build\`; node ${process.version}, ${cpus().length} CPUs. The real
scheduler in-process, SQLite in a temporary data dir, every execution recorded; \`scheduler.maxRunningTasks\` ${CONCURRENCY}.

*Lateness*: ${TASKS.toLocaleString("en")} tasks with no-op work, each \`every: 10s\`, their grids spread 1 ms apart with \`startAt\`,
so together they fire **1,000 times a second**; ${CYCLES} periods, the first left out as warm-up. Lateness is the time from a
firing's due instant until its work starts (waiting for a slot included). The baseline sleeps until the same due instants
and starts the same no-op runs with \`Effect.forEach\` at the same concurrency.

*Dispatch*: ${TASKS.toLocaleString("en")} tasks waiting for one event, raised once; time until the last run has finished.
Baseline: \`Effect.forEach\` over ${TASKS.toLocaleString("en")} no-op runs at the same concurrency.

${table}

Registering the ${TASKS.toLocaleString("en")} tasks took ${f(sched1.registrationMs, 0)} ms.
Goal: lateness p99 under 5 ms at 1,000 triggers per second (${lateSched.p99 < 5 ? "met" : "not met"}: ${f(lateSched.p99)} ms).
Where the tail comes from, measured on this machine at this load (\`node --trace-gc\`, and SQLite alone): a young-generation
collection pauses the process for about 5 ms some ten times a second; a full collection, about every half minute with
ten thousand tasks registered, holds it for tens of milliseconds (single steps of up to about 100 ms were seen); a
commit of the execution history (one every 100 ms) takes 0.5 to 2.5 ms and up to about 10 ms when SQLite checkpoints its
log. A firing due during any of these starts that much late. The baseline allocates next to nothing per run and writes
nothing. Whether a full collection falls inside the measured 20 s decides most of the p99: over several runs on this
shared machine it ranged from under 5 ms to about 200 ms, while p50 stayed within 0.7 to 0.9 ms.

The dispatch ratio is large because the baseline does nothing but count: each scheduled run also admits the firing
against its overlap policy, waits its turn in the priority queue, gets a fiber of its own (so it can be interrupted
alone), records its start and end (batched into SQLite) and publishes both on the change stream.`)
  console.log("wrote the Scheduler section of docs/benchmarks.md")
}
