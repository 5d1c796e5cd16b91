import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Order from "effect/Order"
import * as RedBlackTree from "effect/RedBlackTree"
import * as Ref from "effect/Ref"

/** A place in the line: higher priority first, then first come first served. */
interface Ticket {
  readonly priority: number
  readonly seq: number
}

const ticketOrder: Order.Order<Ticket> = Order.combine(
  Order.mapInput(Order.reverse(Order.number), (ticket: Ticket) => ticket.priority),
  Order.mapInput(Order.number, (ticket: Ticket) => ticket.seq)
)

/** `true` once a slot is granted, `false` when the pool closed first. */
type Grant = Deferred.Deferred<boolean>

interface PoolState {
  readonly limit: number
  readonly running: number
  readonly waiting: RedBlackTree.RedBlackTree<Ticket, Grant>
  readonly seq: number
  readonly closed: boolean
  /** Completed when no slot is held any more. */
  readonly idle: ReadonlyArray<Deferred.Deferred<void>>
}

export interface PermitCounts {
  readonly limit: number
  readonly running: number
  readonly queued: number
}

/**
 * A counting semaphore whose waiters are served by priority (FIFO within one priority) and whose
 * size can change at any time. Effect's own Semaphore serves waiters strictly first-in first-out,
 * which would let a low-priority run that arrived first take a scarce slot.
 */
export interface PriorityPermits {
  /** Waits for a slot; `false` when the pool was closed instead (the caller must not run). */
  readonly acquire: (priority: number) => Effect.Effect<boolean>
  /** Gives a slot back; the best waiter, if any, gets it. */
  readonly release: Effect.Effect<void>
  /** A smaller limit takes effect as running holders release; a larger one wakes waiters at once. */
  readonly setLimit: (limit: number) => Effect.Effect<void>
  /** Refuses every waiter and every later `acquire`; holders keep their slots until they release. */
  readonly close: Effect.Effect<void>
  readonly counts: Effect.Effect<PermitCounts>
  /** Completes once no slot is held. */
  readonly awaitIdle: Effect.Effect<void>
}

const countsOf = (state: PoolState): PermitCounts => ({
  limit: state.limit,
  running: state.running,
  queued: state.closed ? 0 : RedBlackTree.size(state.waiting)
})

/** Hands free slots to the best waiters; returns the grants to complete and the new state. */
const grantFree = (state: PoolState): readonly [ReadonlyArray<Grant>, PoolState] => {
  if (state.closed) return [[], state]
  if (state.running < state.limit && RedBlackTree.size(state.waiting) === 0) return [[], state]
  const grants: Array<Grant> = []
  let { running, waiting } = state
  while (running < state.limit) {
    const first = RedBlackTree.first(waiting)
    if (Option.isNone(first)) break
    const [ticket, grant] = first.value
    waiting = RedBlackTree.removeFirst(waiting, ticket)
    running += 1
    grants.push(grant)
  }
  return [grants, { ...state, running, waiting }]
}

const completeAll = (grants: ReadonlyArray<Grant>, value: boolean) =>
  Effect.forEach(grants, (grant) => Deferred.succeed(grant, value), { discard: true })

/**
 * `onChange` hears the counts after every change (the scheduler's gauges); it must be cheap, as
 * it runs on every acquire and release.
 */
export const makePriorityPermits = (
  initialLimit: number,
  onChange: (counts: PermitCounts) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<PriorityPermits> =>
  Effect.gen(function*() {
    const state = yield* Ref.make<PoolState>({
      limit: initialLimit,
      running: 0,
      waiting: RedBlackTree.empty(ticketOrder),
      seq: 0,
      closed: false,
      idle: []
    })

    /** Applies a change; then completes the grants it made, wakes idle waiters and tells `onChange`. */
    const update = (f: (current: PoolState) => readonly [ReadonlyArray<Grant>, PoolState]) =>
      Effect.flatMap(
        Ref.modify(state, (current) => {
          const [grants, next] = f(current)
          const woken = next.running === 0 ? next.idle : []
          const settled = woken.length > 0 ? { ...next, idle: [] } : next
          return [{ grants, woken, counts: countsOf(settled) }, settled] as const
        }),
        ({ counts, grants, woken }) =>
          completeAll(grants, true).pipe(
            Effect.zipRight(Effect.forEach(woken, (done) => Deferred.succeed(done, undefined), { discard: true })),
            Effect.zipRight(onChange(counts))
          )
      )

    /** The waiter gave up (interrupted): leave the line, or hand back the slot it was granted meanwhile. */
    const cancel = (ticket: Ticket) =>
      update((current) =>
        RedBlackTree.has(current.waiting, ticket)
          ? [[], { ...current, waiting: RedBlackTree.removeFirst(current.waiting, ticket) }]
          : grantFree({ ...current, running: current.running - 1 })
      )

    const acquire = (priority: number) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const grant = yield* Deferred.make<boolean>()
          const [placed, counts] = yield* Ref.modify(state, (current): readonly [readonly [Ticket | boolean, PermitCounts], PoolState] => {
            if (current.closed) return [[false, countsOf(current)], current]
            const next = current.running < current.limit && RedBlackTree.size(current.waiting) === 0
              ? { ...current, running: current.running + 1 }
              : {
                ...current,
                seq: current.seq + 1,
                waiting: RedBlackTree.insert(current.waiting, { priority, seq: current.seq }, grant)
              }
            return [[next.running > current.running || { priority, seq: current.seq }, countsOf(next)], next]
          })
          yield* onChange(counts)
          if (typeof placed === "boolean") return placed
          return yield* restore(Deferred.await(grant)).pipe(Effect.onInterrupt(() => cancel(placed)))
        })
      )

    // Refused waiters stay in the tree, so one that is interrupted meanwhile finds its ticket there
    // and does not mistake the refusal for a slot to hand back.
    const close = Effect.flatMap(
      Ref.modify(state, (current): readonly [ReadonlyArray<Grant>, PoolState] => [
        Array.from(RedBlackTree.values(current.waiting)),
        { ...current, closed: true }
      ]),
      (grants) => completeAll(grants, false)
    )

    return {
      acquire,
      release: update((current) => grantFree({ ...current, running: current.running - 1 })),
      setLimit: (limit: number) => update((current) => grantFree({ ...current, limit })),
      close,
      counts: Effect.map(Ref.get(state), countsOf),
      awaitIdle: Effect.flatMap(Deferred.make<void>(), (done) =>
        Effect.flatMap(
          Ref.modify(state, (current): readonly [boolean, PoolState] =>
            current.running === 0 ? [true, current] : [false, { ...current, idle: [...current.idle, done] }]),
          (idle) => (idle ? Effect.void : Deferred.await(done))
        ))
    }
  })
