import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import { Scheduler } from "../../src/scheduler/index.js"
import { makePriorityPermits } from "../../src/scheduler/permits.js"
import { advance, layerScheduler, settle, withScheduler } from "./support.js"

describe("the priority permit pool", () => {
  it.effect("serves waiters by priority, first come first served within one", () =>
    Effect.gen(function*() {
      const permits = yield* makePriorityPermits(1)
      const order = yield* Ref.make<ReadonlyArray<string>>([])
      expect(yield* permits.acquire(0)).toBe(true)
      const waiters = yield* Effect.forEach(
        [["low-a", 1], ["high-a", 5], ["low-b", 1], ["high-b", 5], ["mid", 3]] as const,
        ([name, priority]) =>
          Effect.fork(Effect.zipRight(permits.acquire(priority), Ref.update(order, (all) => [...all, name]))).pipe(
            Effect.tap(() => settle)
          )
      )
      expect(yield* permits.counts).toEqual({ limit: 1, running: 1, queued: 5 })
      for (let i = 0; i < 5; i++) {
        yield* permits.release
        yield* settle
      }
      yield* Fiber.joinAll(waiters)
      expect(yield* Ref.get(order)).toEqual(["high-a", "high-b", "mid", "low-a", "low-b"])
    }))

  it.effect("a larger limit wakes waiters at once; an interrupted waiter leaves the line; close refuses the rest", () =>
    Effect.gen(function*() {
      const permits = yield* makePriorityPermits(1)
      yield* permits.acquire(0)
      const a = yield* Effect.fork(permits.acquire(0))
      const b = yield* Effect.fork(permits.acquire(0))
      const c = yield* Effect.fork(permits.acquire(0))
      yield* settle
      yield* Fiber.interrupt(b)
      expect((yield* permits.counts).queued).toBe(2)
      yield* permits.setLimit(2)
      expect(yield* Fiber.join(a)).toBe(true)
      expect(yield* permits.counts).toEqual({ limit: 2, running: 2, queued: 1 })
      yield* permits.close
      expect(yield* Fiber.join(c)).toBe(false)
      expect(yield* permits.acquire(9)).toBe(false)
    }))
})

type Op =
  | { readonly op: "acquire"; readonly priority: number }
  | { readonly op: "release" }
  | { readonly op: "limit"; readonly limit: number }

const ops: FastCheck.Arbitrary<ReadonlyArray<Op>> = FastCheck.array(
  FastCheck.oneof(
    { weight: 5, arbitrary: FastCheck.record({ op: FastCheck.constant("acquire" as const), priority: FastCheck.integer({ min: -3, max: 3 }) }) },
    { weight: 4, arbitrary: FastCheck.record({ op: FastCheck.constant("release" as const) }) },
    { weight: 1, arbitrary: FastCheck.record({ op: FastCheck.constant("limit" as const), limit: FastCheck.integer({ min: 1, max: 4 }) }) }
  ),
  { minLength: 1, maxLength: 60 }
)

/** Lets forked waiters run; no clock is involved. */
const yieldAll = Effect.forEach(Array.from({ length: 8 }), () => Effect.yieldNow(), { discard: true })

describe("the priority permit pool, against a model", () => {
  it.effect.prop("grants exactly as a priority queue would, never above the limit", [ops], ([sequence]) =>
    Effect.gen(function*() {
      const permits = yield* makePriorityPermits(2)
      const granted = yield* Ref.make<ReadonlyArray<number>>([])
      // The model: who holds a slot, who waits (priority, then arrival).
      let limit = 2
      let holders = 0
      let waiting: Array<{ readonly id: number; readonly priority: number }> = []
      const expected: Array<number> = []
      const grantModel = () => {
        while (holders < limit && waiting.length > 0) {
          const best = waiting.reduce((a, b) => (b.priority > a.priority ? b : a))
          waiting = waiting.filter((w) => w !== best)
          holders += 1
          expected.push(best.id)
        }
      }
      for (const [id, step] of sequence.entries()) {
        if (step.op === "acquire") {
          if (holders < limit && waiting.length === 0) {
            holders += 1
            expected.push(id)
          } else {
            waiting.push({ id, priority: step.priority })
          }
          yield* Effect.fork(Effect.zipRight(permits.acquire(step.priority), Ref.update(granted, (all) => [...all, id])))
        } else if (step.op === "release") {
          if (holders === 0) continue
          holders -= 1
          grantModel()
          yield* permits.release
        } else {
          limit = step.limit
          grantModel()
          yield* permits.setLimit(step.limit)
        }
        yield* yieldAll
        const counts = yield* permits.counts
        expect(counts).toEqual({ limit, running: holders, queued: waiting.length })
      }
      expect(yield* Ref.get(granted)).toEqual(expected)
    }), { fastCheck: { numRuns: 200 } })
})

interface Plan {
  readonly limit: number
  readonly tasks: ReadonlyArray<{ readonly priority: number; readonly everyMs: number; readonly workMs: number }>
}

const plans: FastCheck.Arbitrary<Plan> = FastCheck.record({
  limit: FastCheck.integer({ min: 1, max: 4 }),
  tasks: FastCheck.array(
    FastCheck.record({
      priority: FastCheck.integer({ min: -2, max: 2 }),
      everyMs: FastCheck.integer({ min: 1, max: 8 }).map((n) => n * 500),
      workMs: FastCheck.integer({ min: 0, max: 12 }).map((n) => n * 250)
    }),
    { minLength: 2, maxLength: 20 }
  )
})

describe("when slots are scarce", () => {
  it.effect.prop(
    "the running count never exceeds the limit, and a higher-priority ready run always starts before a lower one",
    [plans],
    ([plan]) =>
      Effect.gen(function*() {
        const scheduler = yield* Scheduler
        const running = yield* Ref.make(0)
        const peak = yield* Ref.make(0)
        const work = (ms: number) =>
          Effect.acquireUseRelease(
            Effect.flatMap(Ref.updateAndGet(running, (n) => n + 1), (n) => Ref.update(peak, (p) => Math.max(p, n))),
            () => Effect.sleep(Duration.millis(ms)),
            () => Ref.update(running, (n) => n - 1)
          )
        const priorities = new Map<string, number>()
        for (const [index, task] of plan.tasks.entries()) {
          const added = yield* scheduler.add({
            name: `t${index}`,
            work: work(task.workMs),
            triggers: [{ every: Duration.millis(task.everyMs) }],
            priority: task.priority,
            overlap: "allow"
          })
          priorities.set(added.id, task.priority)
        }
        yield* advance("12 seconds")
        expect(yield* Ref.get(peak)).toBeLessThanOrEqual(plan.limit)
        yield* scheduler.pause()

        const runs = (yield* Effect.forEach([...priorities.keys()], (id) => scheduler.executions(id, 1_000))).flat().map((execution) => ({
          priority: priorities.get(execution.taskId)!,
          ready: DateTime.toEpochMillis(execution.scheduledAt),
          start: DateTime.toEpochMillis(execution.startedAt)
        }))
        for (const low of runs) {
          // No run of higher priority was ready strictly before this one started and started after it.
          const overtaken = runs.find((high) => high.priority > low.priority && high.ready < low.start && high.start > low.start)
          expect(overtaken, `a priority ${low.priority} run started at ${low.start} ahead of a ready higher one`).toBeUndefined()
          // Within one priority, an earlier ready run never starts after a later one.
          const jumped = runs.find((other) => other.priority === low.priority && other.ready < low.ready && other.start > low.start)
          expect(jumped, `FIFO broken within priority ${low.priority}`).toBeUndefined()
        }
      }).pipe(withScheduler(layerScheduler({ scheduler: { maxRunningTasks: plan.limit, historyRetention: 10_000 } }))),
    { fastCheck: { numRuns: 10 } }
  )
})
