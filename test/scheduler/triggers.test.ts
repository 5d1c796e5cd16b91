import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import { Scheduler } from "../../src/scheduler/index.js"
import { advance, at, iso, layerScheduler, makeLog, withScheduler } from "./support.js"

const instant = (text: string) => DateTime.unsafeMake(at(text))

describe("cron triggers", () => {
  it.effect("fire at the exact instants, with seconds", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-01-01T00:00:00Z"))
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({ name: "every-15s", work: log.mark, triggers: [{ cron: "*/15 * * * * *" }] })
      yield* advance("1 minute")
      expect(yield* log.isos).toEqual([
        "2024-01-01T00:00:15.000Z",
        "2024-01-01T00:00:30.000Z",
        "2024-01-01T00:00:45.000Z",
        "2024-01-01T00:01:00.000Z"
      ])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("five fields mean minutes; a slot exactly now is not fired again", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-01-01T10:00:00Z"))
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({ name: "quarterly", work: log.mark, triggers: [{ cron: "*/20 * * * *" }] })
      yield* advance("1 hour")
      expect(yield* log.isos).toEqual(["2024-01-01T10:20:00.000Z", "2024-01-01T10:40:00.000Z", "2024-01-01T11:00:00.000Z"])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("read the fields in the trigger's time zone", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-01-01T00:00:00Z"))
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({
        name: "new-york-morning",
        work: log.mark,
        triggers: [{ cron: "0 30 9 * * *", timezone: "America/New_York" }]
      })
      yield* advance("2 days")
      expect(yield* log.isos).toEqual(["2024-01-01T14:30:00.000Z", "2024-01-02T14:30:00.000Z"])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("keep the local time across a daylight-saving change (Berlin, spring and autumn)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-03-29T12:00:00Z"))
      const scheduler = yield* Scheduler
      const spring = yield* makeLog
      const skipped = yield* makeLog
      yield* scheduler.add({ name: "three", work: spring.mark, triggers: [{ cron: "0 3 * * *", timezone: "Europe/Berlin" }] })
      // 02:30 does not exist on the last Sunday of March: it runs when the clock has jumped, at 03:30 CEST.
      yield* scheduler.add({ name: "two-thirty", work: skipped.mark, triggers: [{ cron: "30 2 * * *", timezone: "Europe/Berlin" }] })
      yield* advance("3 days")
      expect(yield* spring.isos).toEqual(["2024-03-30T02:00:00.000Z", "2024-03-31T01:00:00.000Z", "2024-04-01T01:00:00.000Z"])
      expect(yield* skipped.isos).toEqual(["2024-03-30T01:30:00.000Z", "2024-03-31T01:30:00.000Z", "2024-04-01T00:30:00.000Z"])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("fire a repeated local time once when the clocks go back", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-10-26T12:00:00Z"))
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({ name: "two-thirty", work: log.mark, triggers: [{ cron: "30 2 * * *", timezone: "Europe/Berlin" }] })
      yield* advance("2 days")
      // 02:30 CEST on the 27th, then 02:30 CET (01:30Z) on the 28th: the second 02:30 of the 27th is not a new day.
      expect(yield* log.isos).toEqual(["2024-10-27T00:30:00.000Z", "2024-10-28T01:30:00.000Z"])
    }).pipe(withScheduler(layerScheduler())))
})

describe("interval triggers", () => {
  it.effect("fire every interval from the moment they are added, without drift", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({ name: "tick", work: Effect.zipRight(log.mark, Effect.sleep("3 seconds")), triggers: [{ every: Duration.seconds(10) }], overlap: "allow" })
      yield* advance("1 minute")
      expect(yield* log.instants).toEqual([10_000, 20_000, 30_000, 40_000, 50_000, 60_000])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("with jitter, each firing lies in [slot, slot + jitter] and the grid does not drift", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({
        name: "jittery",
        work: log.mark,
        triggers: [{ every: Duration.seconds(10), jitter: Duration.seconds(3) }]
      })
      yield* advance("300 seconds")
      const fired = yield* log.instants
      expect(fired.length).toBeGreaterThanOrEqual(29)
      fired.forEach((time, index) => {
        const slot = (index + 1) * 10_000
        expect(time).toBeGreaterThanOrEqual(slot)
        expect(time).toBeLessThanOrEqual(slot + 3_000)
      })
      // A jitter of up to 3s over 30 firings still spreads them: not all on the slot.
      expect(new Set(fired.map((time) => time % 10_000)).size).toBeGreaterThan(1)
    }).pipe(withScheduler(layerScheduler())))

  it.effect("startAt puts the grid on startAt; endAt ends the trigger", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-05-01T00:00:00Z"))
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      const task = yield* scheduler.add({
        name: "windowed",
        work: log.mark,
        triggers: [{ every: Duration.minutes(1), startAt: instant("2024-05-01T00:10:30Z"), endAt: instant("2024-05-01T00:13:30Z") }]
      })
      expect(task.nextRunAt === undefined ? undefined : DateTime.formatIso(task.nextRunAt)).toBe("2024-05-01T00:10:30.000Z")
      yield* advance("30 minutes")
      expect(yield* log.isos).toEqual([
        "2024-05-01T00:10:30.000Z",
        "2024-05-01T00:11:30.000Z",
        "2024-05-01T00:12:30.000Z",
        "2024-05-01T00:13:30.000Z"
      ])
      expect((yield* scheduler.get(task.id)).nextRunAt).toBeUndefined()
    }).pipe(withScheduler(layerScheduler())))
})

describe("one-time triggers", () => {
  it.effect("a delay fires once, then the task is gone and its history stays readable", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      const task = yield* scheduler.add({ name: "once", work: log.mark, triggers: [{ delay: Duration.minutes(5) }] })
      yield* advance("4 minutes")
      expect((yield* scheduler.get(task.id)).nextRunAt).toEqual(DateTime.unsafeMake(300_000))
      yield* advance("10 minutes")
      expect(yield* log.instants).toEqual([300_000])
      const gone = yield* Effect.flip(scheduler.get(task.id))
      expect(gone._tag).toBe("TaskNotFound")
      const history = yield* scheduler.executions(task.id)
      expect(history.map((execution) => [execution.trigger, execution.status])).toEqual([["delay 5m", "succeeded"]])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("an instant that has passed fires at once", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2024-01-01T12:00:00Z"))
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      yield* scheduler.add({ name: "late", work: log.mark, triggers: [{ at: instant("2024-01-01T11:00:00Z") }] })
      yield* scheduler.add({ name: "later", work: log.mark, triggers: [{ at: instant("2024-01-01T12:30:00Z") }] })
      yield* advance("1 hour")
      expect(yield* log.isos).toEqual(["2024-01-01T12:00:00.000Z", "2024-01-01T12:30:00.000Z"])
      expect(yield* scheduler.list).toEqual([])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("a one-time task whose retries are exhausted is removed too", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const task = yield* scheduler.add({
        name: "doomed",
        work: Effect.fail("no"),
        triggers: [{ delay: Duration.seconds(1) }],
        retry: { maxRetries: 2, backoff: "fixed", delay: Duration.seconds(1) }
      })
      yield* advance("2 seconds")
      expect((yield* scheduler.get(task.id)).running).toBe(1)
      yield* advance("5 seconds")
      expect(Option.isNone(Option.fromNullable((yield* scheduler.list).find((t) => t.id === task.id)))).toBe(true)
      const history = yield* scheduler.executions(task.id)
      expect(history.map((execution) => `${execution.attempt}:${execution.status}`)).toEqual(["3:failed", "2:failed", "1:failed"])
    }).pipe(withScheduler(layerScheduler())))

  it.effect("next to periodic triggers, a spent one-time trigger is dropped and the task stays", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const log = yield* makeLog
      const task = yield* scheduler.add({
        name: "mixed",
        work: log.mark,
        triggers: [{ every: Duration.minutes(1) }, { delay: Duration.seconds(90) }]
      })
      yield* advance("3 minutes")
      expect(yield* log.instants).toEqual([60_000, 90_000, 120_000, 180_000])
      expect((yield* scheduler.get(task.id)).triggers).toEqual([{ every: Duration.minutes(1) }])
    }).pipe(withScheduler(layerScheduler())))
})

describe("event triggers", () => {
  it.effect("fire the tasks waiting for the event, and only those", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const deploys = yield* makeLog
      const others = yield* makeLog
      const deploy = yield* scheduler.add({ name: "on-deploy", work: deploys.mark, triggers: [{ event: "deploy" }] })
      yield* scheduler.add({ name: "on-other", work: others.mark, triggers: [{ event: "other" }, { every: Duration.hours(1) }] })
      const paused = yield* scheduler.add({ name: "paused", work: deploys.mark, triggers: [{ event: "deploy" }], enabled: false })
      yield* advance("5 seconds")
      const fired = yield* scheduler.fire("deploy")
      expect(fired).toEqual({ event: "deploy", tasks: [deploy.id] })
      expect(paused.enabled).toBe(false)
      yield* advance("1 second")
      expect(yield* deploys.instants).toEqual([5_000])
      expect(yield* others.instants).toEqual([])
      expect((yield* scheduler.fire("nobody-listens")).tasks).toEqual([])
      const history = yield* scheduler.executions(deploy.id)
      expect(history[0]).toMatchObject({ trigger: "event deploy", status: "succeeded", attempt: 1 })
      expect(iso(DateTime.toEpochMillis(history[0]!.scheduledAt))).toBe(iso(5_000))
    }).pipe(withScheduler(layerScheduler())))
})
