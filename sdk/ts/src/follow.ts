/**
 * Following something of Miko's with blocking queries, shared by the endpoint list and the
 * configuration views: the state a follower keeps, the loop that keeps it fresh, and waiting for
 * the first answer.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { ResolvedOptions } from "./options.js"

/** What a follower holds: the last good copy, and how the last attempt went. */
export interface Followed<S, E> {
  readonly snapshot: S | undefined
  /** The last refresh's failure; cleared by the next success. */
  readonly error: E | undefined
  /** Whether a first refresh has finished (with a copy or an error). */
  readonly attempted: boolean
  /** When Miko last confirmed the copy. */
  readonly updatedAt: number | undefined
}

export const nothingYet = <S, E>(): Followed<S, E> => ({ snapshot: undefined, error: undefined, attempted: false, updatedAt: undefined })

/**
 * Runs `refresh` (one read, a blocking query once there is an index; true when it brought nothing
 * new) for as long as the scope lasts. While Miko is unreachable it retries from backoff.min,
 * doubling up to backoff.max, with jitter. A blocking query that answers at once with nothing new
 * (Miko shutting down, or a proxy that drops the query) would make this a busy loop: such answers
 * are paced.
 */
export const keepFollowing = <E extends { readonly message: string }>(
  options: ResolvedOptions,
  refresh: Effect.Effect<boolean, E>,
  what: string
): Effect.Effect<void, never, Scope.Scope> => {
  const backoff = Schedule.exponential(options.backoffMin).pipe(
    Schedule.union(Schedule.spaced(options.backoffMax)),
    Schedule.jittered
  )
  const early = Duration.min(Duration.millis(Duration.toMillis(options.wait) / 10), Duration.seconds(1))
  const poll = Effect.timed(refresh).pipe(
    Effect.flatMap(([took, unchanged]) => (unchanged && Duration.lessThan(took, early) ? Effect.sleep(options.backoffMin) : Effect.void))
  )
  return poll.pipe(
    Effect.tapError((error) => Effect.logDebug(`${what} not refreshed: ${error.message}`)),
    Effect.retry(backoff),
    Effect.forever,
    Effect.annotateLogs("package", "miko/sdk"),
    Effect.forkScoped,
    Effect.asVoid
  )
}

/**
 * The copy at hand; before the first one, waits for the first attempt to end and fails with its
 * error. `none` is the error when there is nothing to report (the follower stopped).
 */
export const currentOf = <S, E>(state: SubscriptionRef.SubscriptionRef<Followed<S, E>>, none: (why: string) => E): Effect.Effect<S, E> => {
  const settled = (s: Followed<S, E>): Effect.Effect<S, E> => {
    if (s.snapshot !== undefined) return Effect.succeed(s.snapshot)
    if (s.attempted) return Effect.fail(s.error ?? none("nothing received yet"))
    return first
  }
  const first: Effect.Effect<S, E> = state.changes.pipe(
    Stream.filter((s) => s.snapshot !== undefined || s.attempted),
    Stream.runHead,
    Effect.flatMap(Option.match({ onNone: () => Effect.fail(none("the client is closed")), onSome: settled }))
  )
  return Effect.flatMap(SubscriptionRef.get(state), settled)
}
