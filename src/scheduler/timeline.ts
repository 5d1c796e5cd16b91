import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Runtime from "effect/Runtime"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { MinHeap } from "../shared/min-heap.js"
import { makeStepper, sleepUntil } from "./schedules.js"

/** A place on the timeline: the instant, then the order of arrival. */
interface Slot {
  readonly at: number
  readonly seq: number
  readonly timed: Timed
}

const before = (a: Slot, b: Slot) => a.at < b.at || (a.at === b.at && a.seq < b.seq)

interface Timed {
  readonly next: (now: number) => Effect.Effect<Option.Option<number>>
  readonly notAfter: number | undefined
  readonly onNext: (instant: Option.Option<number>) => Effect.Effect<void>
  readonly onFire: (instant: number) => Effect.Effect<void>
  readonly cancelled: Ref.Ref<boolean>
}

export interface TimedSchedule {
  readonly schedule: Schedule.Schedule<unknown>
  /** No instant before this one; a slot exactly on it counts. */
  readonly notBefore?: number | undefined
  /** The schedule ends at its first instant after this one. */
  readonly notAfter?: number | undefined
  /** Hears each next instant, and `None` once the schedule is over. */
  readonly onNext: (instant: Option.Option<number>) => Effect.Effect<void>
  /** Called at each instant, on the timeline's own fiber: it must hand work off, not do it. */
  readonly onFire: (instant: number) => Effect.Effect<void>
}

/**
 * Every time-based trigger on one timeline driven by one fiber: it sleeps (by the Clock) until
 * the earliest instant, fires what is due and asks each Schedule for its next instant. Ten
 * thousand triggers cost ten thousand tree nodes, not ten thousand sleeping fibers and timers.
 */
export interface Timeline {
  /** Starts following a Schedule; the effect it returns stops following it. */
  readonly add: (timed: TimedSchedule) => Effect.Effect<Effect.Effect<void>>
  /** Stops firing anything. */
  readonly stop: Effect.Effect<void>
}

export const makeTimeline: Effect.Effect<Timeline, never, Scope.Scope> = Effect.gen(function*() {
  // Mutable: every firing replaces a slot (see MinHeap).
  const heap = new MinHeap<Slot>(before)
  const sequence = yield* Ref.make(0)
  const runtime = yield* Effect.runtime<never>()
  const scope = yield* Effect.scope
  const stopped = yield* Ref.make(false)

  /** Puts the schedule's next instant on the timeline; `true` when it is now the earliest. */
  const plan = (timed: Timed, from: number) =>
    Effect.gen(function*() {
      const instant = yield* timed.next(from)
      if (Option.isNone(instant) || (timed.notAfter !== undefined && instant.value > timed.notAfter)) {
        yield* timed.onNext(Option.none())
        return false
      }
      const at = instant.value
      const seq = yield* Ref.getAndUpdate(sequence, (n) => n + 1)
      yield* timed.onNext(instant)
      return yield* Effect.sync(() => {
        const first = heap.peek()
        heap.push({ at, seq, timed })
        return first === undefined || at < first.at
      })
    })

  /**
   * Fires the earliest slot when it is due and plans its next instant; `false` when nothing is
   * due. Uninterruptible, so a driver replaced meanwhile never leaves a slot half handled.
   */
  const fireDue = Effect.uninterruptible(Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const slot = yield* Effect.sync(() => {
      const first = heap.peek()
      return first === undefined || first.at > now ? undefined : heap.pop()
    })
    if (slot === undefined) return false
    const { timed } = slot
    if (yield* Ref.get(timed.cancelled)) return true
    // A failing handler must not stop every other trigger.
    yield* timed.onFire(slot.at).pipe(Effect.catchAllCause((cause) => Effect.logError("a trigger failed to fire", Cause.pretty(cause))))
    yield* plan(timed, Math.max(slot.at, yield* Clock.currentTimeMillis))
    return true
  }))

  /** Sleeps until the earliest instant: a plain sleep, as nothing but a replacement can cut it short. */
  const waitForNext = Effect.suspend(() => {
    const first = heap.peek()
    return first === undefined ? Effect.never : sleepUntil(first.at)
  })

  const drive = Effect.forever(Effect.flatMap(fireDue, (fired) => (fired ? Effect.yieldNow() : waitForNext)))
  const startDriver = Effect.sync(() => Runtime.runFork(runtime)(drive, { scope, immediate: false }))
  const driver = yield* Ref.make(yield* startDriver)

  /**
   * An instant earlier than the one the driver sleeps until: a fresh driver replaces it. Rare (a
   * task added with a sooner first instant), and cheaper than making every sleep wakeable.
   */
  const replaceDriver = Effect.gen(function*() {
    if (yield* Ref.get(stopped)) return
    const fresh = yield* startDriver
    yield* Fiber.interrupt(yield* Ref.getAndSet(driver, fresh))
  })

  return {
    add: (timed) =>
      Effect.gen(function*() {
        const cancelled = yield* Ref.make(false)
        const entry: Timed = {
          next: yield* makeStepper(timed.schedule),
          notAfter: timed.notAfter,
          onNext: timed.onNext,
          onFire: timed.onFire,
          cancelled
        }
        const now = yield* Clock.currentTimeMillis
        // Asking from just before notBefore lets a slot exactly on it count.
        const earliest = yield* plan(entry, timed.notBefore === undefined ? now : Math.max(now, timed.notBefore - 1))
        if (earliest) yield* replaceDriver
        // Cancelled entries are dropped when their instant comes: removal stays O(1).
        return Effect.zipRight(Ref.set(cancelled, true), timed.onNext(Option.none()))
      }),
    stop: Effect.zipRight(Ref.set(stopped, true), Effect.flatMap(Ref.get(driver), Fiber.interrupt))
  }
})
