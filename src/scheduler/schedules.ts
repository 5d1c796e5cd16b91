/**
 * Triggers and retry policies as `Schedule`s, and the stepping that turns a Schedule into the
 * instants a task is due. The scheduler steps Schedules itself, rather than handing them to
 * `Effect.repeat`: it needs the instant each firing was meant for (recorded on the execution,
 * the lateness metric is measured against it), and one timeline serves every trigger.
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Interval from "effect/ScheduleInterval"
import * as Intervals from "effect/ScheduleIntervals"
import { formatMillis } from "../shared/duration.js"
import { parseCron, previousCronInstant } from "./cron.js"
import type { RetryPolicy, Trigger } from "./schema.js"

/** How a trigger fires: on a time Schedule again and again, once, or when an event is raised. */
export type TriggerMode = "periodic" | "once" | "event"

export const triggerMode = (trigger: Trigger): TriggerMode =>
  "every" in trigger || "cron" in trigger ? "periodic" : "event" in trigger || "kvChanged" in trigger ? "event" : "once"

const millis = (duration: Duration.Duration) => Duration.toMillis(duration)

/** How executions name their trigger: "every 1m", "cron 0 3 * * * (Europe/Berlin)", "event deploy". */
export const triggerLabel = (trigger: Trigger): string => {
  if ("every" in trigger) return `every ${formatMillis(millis(trigger.every))}`
  if ("cron" in trigger) return `cron ${trigger.cron}${trigger.timezone === undefined ? "" : ` (${trigger.timezone})`}`
  if ("event" in trigger) return `event ${trigger.event}`
  if ("kvChanged" in trigger) return `kvChanged ${trigger.kvChanged}`
  if ("delay" in trigger) return `delay ${formatMillis(millis(trigger.delay))}`
  return `at ${DateTime.formatIso(trigger.at)}`
}

/** Every `interval` on a grid through `anchor`; without one, the grid starts at the first step. */
export const everySchedule = (interval: Duration.Duration, anchor: number | undefined): Schedule.Schedule<number> => {
  const size = Math.max(1, millis(interval))
  return Schedule.makeWithState<number | undefined, unknown, number>(anchor, (now, _, state) => {
    const origin = state ?? now
    // The next grid point strictly after now: a run that took long resumes on the grid, never piles up.
    const next = origin > now ? origin : origin + (Math.floor((now - origin) / size) + 1) * size
    return Effect.succeed([origin, next, ScheduleDecision.continueWith(Interval.after(next))] as const)
  })
}

/** Once, at `instant` (at once when it has passed). */
export const onceSchedule = (instant: number): Schedule.Schedule<number> =>
  Schedule.makeWithState<boolean, unknown, number>(false, (_now, _, fired) =>
    Effect.succeed(
      fired
        ? [true, instant, ScheduleDecision.done] as const
        : [true, instant, ScheduleDecision.continueWith(Interval.after(instant))] as const
    ))

/** Lengthens every delay by a random amount from 0 up to `jitter`. */
const withJitter = <Out>(schedule: Schedule.Schedule<Out>, jitter: Duration.Duration | undefined): Schedule.Schedule<Out> => {
  const most = jitter === undefined ? 0 : Math.floor(millis(jitter))
  return most <= 0
    ? schedule
    : Schedule.addDelayEffect(schedule, () => Effect.map(Random.nextIntBetween(0, most + 1), Duration.millis))
}

/**
 * The Schedule of a time-based trigger, `None` for an event trigger. `createdAt` is when the task
 * was created: a one-time `delay` counts from it, so it survives a restart.
 */
export const triggerSchedule = (trigger: Trigger, createdAt: number): Option.Option<Schedule.Schedule<unknown>> => {
  if ("every" in trigger) {
    // On the grid through the task's creation: the same grid on every replica and after restarts.
    const anchor = trigger.startAt === undefined ? createdAt : DateTime.toEpochMillis(trigger.startAt)
    return Option.some(withJitter(everySchedule(trigger.every, anchor), trigger.jitter))
  }
  if ("cron" in trigger) {
    const cron = Either.getOrThrowWith(parseCron(trigger.cron, trigger.timezone), (problem) => new Error(problem))
    return Option.some(withJitter(Schedule.cron(cron), trigger.jitter))
  }
  if ("delay" in trigger) return Option.some(onceSchedule(createdAt + millis(trigger.delay)))
  if ("at" in trigger) return Option.some(onceSchedule(DateTime.toEpochMillis(trigger.at)))
  return Option.none()
}

/** The window a periodic trigger is active in. */
export const triggerWindow = (trigger: Trigger): { readonly notBefore?: number; readonly notAfter?: number } =>
  "every" in trigger || "cron" in trigger
    ? {
      ...(trigger.startAt === undefined ? {} : { notBefore: DateTime.toEpochMillis(trigger.startAt) }),
      ...(trigger.endAt === undefined ? {} : { notAfter: DateTime.toEpochMillis(trigger.endAt) })
    }
    : {}

/** Steps a Schedule by hand: each call gives the next instant it decides on, `None` once it is done. */
export const makeStepper = (schedule: Schedule.Schedule<unknown>) =>
  Effect.map(Ref.make<unknown>(schedule.initial), (state) => (now: number): Effect.Effect<Option.Option<number>> =>
    Effect.flatMap(Ref.get(state), (current) =>
      Effect.flatMap(schedule.step(now, undefined, current), ([next, , decision]) =>
        ScheduleDecision.isDone(decision)
          ? Effect.succeed(Option.none())
          : Effect.as(Ref.set(state, next), Option.some(Intervals.start(decision.intervals))))))

/** Sleeps by the Clock until `instant`; returns at once when it has passed. */
export const sleepUntil = (instant: number) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => (instant > now ? Effect.sleep(Duration.millis(instant - now)) : Effect.void))

/**
 * The slot of a periodic trigger missed while the process was down: the latest one after
 * `lastFired` and at or before `now`, inside the trigger's window. Only one, however many passed.
 */
export const missedSlot = (trigger: Trigger, lastFired: number, now: number): Option.Option<number> => {
  const window = triggerWindow(trigger)
  const inWindow = (slot: number) =>
    slot > lastFired && slot <= now && (window.notBefore === undefined || slot >= window.notBefore) &&
    (window.notAfter === undefined || slot <= window.notAfter)
  if ("every" in trigger) {
    const size = Math.max(1, millis(trigger.every))
    const origin = window.notBefore ?? lastFired
    if (now < origin) return Option.none()
    return Option.filter(Option.some(origin + Math.floor((now - origin) / size) * size), inWindow)
  }
  if ("cron" in trigger) {
    return Either.match(parseCron(trigger.cron, trigger.timezone), {
      onLeft: () => Option.none(),
      onRight: (cron) => Option.filter(previousCronInstant(cron, Math.min(now, window.notAfter ?? now)), inWindow)
    })
  }
  return Option.none()
}

/** The waits between attempts: fixed or doubling from `delay`, capped, jittered, `maxRetries` of them. */
export const retrySchedule = (policy: RetryPolicy): Schedule.Schedule<unknown> => {
  const base: Schedule.Schedule<unknown> = policy.backoff === "fixed"
    ? Schedule.spaced(policy.delay)
    : Schedule.exponential(policy.delay, 2)
  const maxDelay = policy.maxDelay
  const capped = maxDelay === undefined ? base : Schedule.modifyDelay(base, (_, delay) => Duration.min(delay, maxDelay))
  return Schedule.intersect(withJitter(capped, policy.jitter), Schedule.recurs(policy.maxRetries))
}
