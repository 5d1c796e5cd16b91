import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { StorageError } from "../storage/errors.js"
import type { RegistryChange } from "./model.js"
import { type EndpointRecord, renewInPlace } from "./record.js"
import { makeGroupCommit, type Unit } from "./group-commit.js"
import type { LoggedChange, RegistryStore } from "./store.js"

/** The directory at one change index, and the change that produced it. */
export interface RegistryState {
  readonly index: number
  /** Every endpoint by id. */
  readonly records: HashMap.HashMap<string, EndpointRecord>
  /**
   * The ids of each service's endpoints: a read of one service costs its own size, not the
   * directory's. Ids only, so that a renewed lease (a new record under the same id) changes `records` alone.
   */
  readonly byService: HashMap.HashMap<string, HashSet.HashSet<string>>
  readonly change: RegistryChange | undefined
  /** The endpoint as the change left it (as it was, for a removal). */
  readonly changed: EndpointRecord | undefined
}

/** The directory as loaded from the store: no change of its own to tell. */
export const stateOf = (loaded: { readonly index: number; readonly records: ReadonlyArray<EndpointRecord> }): RegistryState => {
  const services = new Map<string, Array<string>>()
  for (const record of loaded.records) {
    const ids = services.get(record.service) ?? []
    if (ids.length === 0) services.set(record.service, ids)
    ids.push(record.registration.id)
  }
  return {
    index: loaded.index,
    records: HashMap.fromIterable(loaded.records.map((record) => [record.registration.id, record] as const)),
    byService: HashMap.fromIterable(Array.from(services, ([service, ids]) => [service, HashSet.fromIterable(ids)] as const)),
    change: undefined,
    changed: undefined
  }
}

type Directory = Pick<RegistryState, "records" | "byService">

/** The directory with `record` set (or removed) in both of its maps. */
const withRecord = (state: Directory, record: EndpointRecord, removed: boolean): Directory => {
  const id = record.registration.id
  const previous = Option.getOrUndefined(HashMap.get(state.records, id))
  let byService = state.byService
  // An id that moved to another service (only after a removal, or in a replayed log) leaves its old one.
  if (previous !== undefined && (removed || previous.service !== record.service)) {
    const rest = HashSet.remove(HashMap.get(byService, previous.service).pipe(Option.getOrElse(() => HashSet.empty<string>())), id)
    byService = HashSet.size(rest) === 0 ? HashMap.remove(byService, previous.service) : HashMap.set(byService, previous.service, rest)
  }
  if (removed) return { records: HashMap.remove(state.records, id), byService }
  const ids = HashMap.get(byService, record.service).pipe(Option.getOrElse(() => HashSet.empty<string>()))
  return {
    records: HashMap.set(state.records, id, record),
    byService: HashSet.has(ids, id) ? byService : HashMap.set(byService, record.service, HashSet.add(ids, id))
  }
}

/**
 * The directory with new versions of known records, none of which moves to another service (a
 * renewed lease): one transient update of the records for the whole batch, so that a flush of
 * many renewals copies each touched node of a large directory once rather than once per renewal.
 */
const withRenewed = (state: Directory, records: ReadonlyArray<EndpointRecord>): Directory => {
  const sameService = records.every((record) => Option.getOrUndefined(HashMap.get(state.records, record.registration.id))?.service === record.service)
  if (!sameService) return records.reduce((directory, record) => withRecord(directory, record, false), state)
  return {
    records: HashMap.mutate(state.records, (mutable) => {
      for (const record of records) HashMap.set(mutable, record.registration.id, record)
    }),
    byService: state.byService
  }
}

/** The records of some services, or of all when none are named. */
export const recordsOf = (state: Directory, services?: ReadonlyArray<string>): Iterable<EndpointRecord> =>
  services === undefined || services.length === 0
    ? HashMap.values(state.records)
    : services.flatMap((service) =>
      Option.match(HashMap.get(state.byService, service), {
        onNone: () => [],
        onSome: (ids) => Array.from(ids, (id) => HashMap.unsafeGet(state.records, id))
      }))

/** How many recent changes are kept so a reconnecting watcher can resume without a snapshot. */
const historySize = 1024
/** Changes read from the log at a time while catching up. */
const catchUpBatch = 500

/** Told of every endpoint as committed writes leave it, in order: the lease table follows the directory this way. */
export interface JournalFollower {
  readonly follow: (id: string, record: EndpointRecord | undefined) => void
  readonly reset: (records: Iterable<readonly [string, EndpointRecord]>) => void
}

/**
 * The directory's states: the published one readers see, the working one a write changes, and
 * what the write staged in between; publishing makes the staged changes visible, in index order.
 */
const makeStaging = (initial: RegistryState, follower: JournalFollower) =>
  Effect.gen(function*() {
    /** What readers and watchers see: only committed changes. */
    const published = yield* SubscriptionRef.make<RegistryState>(initial)
    // The same, readable without a fiber: the heartbeat fast path looks endpoints up here.
    let shownNow = initial
    /**
     * The state a write works on, ahead of `published` by the changes of the transaction in
     * progress; equal to it between writes. Only touched while holding `serialized`.
     */
    const working = yield* Ref.make(initial)
    const staged = yield* Ref.make<ReadonlyArray<RegistryState>>([])
    /** Endpoints changed without a change callers hear about (a renewed lease), since the last publish. */
    const quietlyChanged = yield* Ref.make<ReadonlyArray<string>>([])
    const history = yield* Ref.make<ReadonlyArray<LoggedChange>>([])
    // Waiters for "the index moved" share one Deferred per index, replaced on every change:
    // a thousand blocked requests cost one completion, not a thousand stream subscriptions.
    const nextChange = yield* Ref.make(yield* Deferred.make<void>())

    /** Adds one change to the working state; it becomes visible when the write commits. */
    const stage = (entry: LoggedChange) =>
      Effect.gen(function*() {
        const current = yield* Ref.get(working)
        const directory = withRecord(current, entry.record, entry.change.type === "deregistered")
        const next: RegistryState = { index: entry.change.index, ...directory, change: entry.change, changed: entry.record }
        yield* Ref.set(working, next)
        yield* Ref.update(staged, (states) => [...states, next])
      })

    /** New versions of known records that no watcher hears about as a change (a renewed lease). */
    const stageQuietly = (records: ReadonlyArray<EndpointRecord>) =>
      Effect.zipRight(
        Ref.update(working, (state) => ({ ...state, ...withRenewed(state, records) })),
        Ref.update(quietlyChanged, (known) => [...known, ...records.map((record) => record.registration.id)])
      )

    const recordOf = (state: RegistryState, id: string) => Option.getOrUndefined(HashMap.get(state.records, id))

    /** Publishes what was staged, change by change, in index order. */
    const publish = Effect.gen(function*() {
      const states = yield* Ref.getAndSet(staged, [])
      for (const state of states) {
        if (state.change !== undefined && state.changed !== undefined) {
          const entry = { change: state.change, record: state.changed }
          yield* Ref.update(history, (entries) => [...entries.slice(-(historySize - 1)), entry])
          follower.follow(state.change.endpointId, recordOf(state, state.change.endpointId))
        } else {
          follower.reset(HashMap.entries(state.records))
        }
        yield* SubscriptionRef.set(published, state)
        shownNow = state
      }
      const final = yield* Ref.get(working)
      const shown = yield* SubscriptionRef.get(published)
      if (final !== shown) {
        shownNow = { ...final, change: shown.change, changed: shown.changed }
        yield* SubscriptionRef.set(published, shownNow)
      }
      for (const id of yield* Ref.getAndSet(quietlyChanged, [])) follower.follow(id, recordOf(final, id))
      if (states.length > 0) {
        const fresh = yield* Deferred.make<void>()
        yield* Deferred.succeed(yield* Ref.getAndSet(nextChange, fresh), undefined)
      }
    })

    /** Forgets a write that did not commit. */
    const discard = Effect.all([
      Ref.set(staged, []),
      Ref.set(quietlyChanged, []),
      Effect.flatMap(SubscriptionRef.get(published), (state) => Ref.set(working, state))
    ], { discard: true })

    /** Where a write found the working state, to return to it when the write fails inside a batch. */
    const mark = Effect.map(
      Effect.all([Ref.get(working), Ref.get(staged), Ref.get(quietlyChanged)]),
      ([state, stagedBefore, quietBefore]) =>
        Effect.all([Ref.set(working, state), Ref.set(staged, stagedBefore), Ref.set(quietlyChanged, quietBefore)], { discard: true })
    )

    return { published, shownNow: () => shownNow, working, staged, history, nextChange, stage, stageQuietly, publish, discard, mark }
  })

/**
 * The journal of changes: every write goes through it. A write runs in one transaction holding the
 * directory's write lock; it first brings the working state up to the shared log (another replica
 * may have written), then stages its changes, commits, and only then publishes them, change by
 * change in index order. A failed write leaves nothing behind.
 */
export const makeJournal = (store: RegistryStore["Type"], initial: RegistryState, follower: JournalFollower) =>
  Effect.gen(function*() {
    const { discard, history, mark, nextChange, publish, published, shownNow, stage, stageQuietly, staged, working } = yield* makeStaging(initial, follower)
    const lock = yield* Effect.makeSemaphore(1)
    const serialized = lock.withPermits(1)

    /**
     * Brings the working state up to the log. A replica too far behind (the entries it needs
     * were trimmed) reloads the whole directory; its watchers then get a fresh snapshot.
     */
    const catchUp: Effect.Effect<void, StorageError> = Effect.gen(function*() {
      const from = (yield* Ref.get(working)).index
      const entries = yield* store.changesSince(from, catchUpBatch)
      if (entries.length === 0) return
      if (entries[0]!.change.index !== from + 1) {
        const state = stateOf(yield* store.load)
        yield* Ref.set(working, state)
        yield* Ref.update(staged, (states) => [...states, state])
        return
      }
      for (const entry of entries) yield* stage(entry)
      if (entries.length === catchUpBatch) yield* catchUp
    })

    const announce = (before: number) =>
      Effect.gen(function*() {
        const after = (yield* SubscriptionRef.get(published)).index
        if (after <= before) return
        yield* store.announce(after).pipe(Effect.catchAll((error) => Effect.logWarning(`change ${after} not announced: ${error.message}`)))
      })

    /** One transaction (see above): `body` runs on the working state brought up to the log, then the changes are published. */
    const transaction: Unit = (body) =>
      serialized(
        Effect.gen(function*() {
          const before = (yield* SubscriptionRef.get(published)).index
          const result = yield* store.transaction((committed) =>
            Effect.zipRight(Effect.flatMap(Ref.get(working), (state) => (state.index < committed ? catchUp : Effect.void)), body)
          )
          yield* publish
          yield* announce(before)
          return result
        }).pipe(Effect.onError(() => discard))
      )

    /**
     * A write inside a batch: on failure its savepoint is rolled back, and the working state
     * returns to where the write found it, so that the next write of the batch starts clean.
     */
    const savepoint: Unit = (body) => Effect.flatMap(mark, (restore) => store.savepoint(body).pipe(Effect.onError(() => restore)))

    /** Every change goes through here; concurrent writes share a transaction (group-commit.ts). */
    const write = yield* makeGroupCommit({ transaction, savepoint })

    /** Logs one change at the next index. */
    const apply = (type: RegistryChange["type"], record: EndpointRecord) =>
      Effect.gen(function*() {
        const index = (yield* Ref.get(working)).index + 1
        const entry = { change: { index, type, service: record.service, endpointId: record.registration.id }, record }
        yield* store.commit(entry)
        yield* stage(entry)
      })

    /** Saves an endpoint whose change callers need not hear about. */
    const touch = (record: EndpointRecord) => Effect.zipRight(store.touch(record), stageQuietly([record]))

    /**
     * Saves renewed leases (each record of the working state with its last heartbeat): only the
     * heartbeat, in one statement. In memory the records take it in place (see renewInPlace); the
     * lease table took each heartbeat as it came, so it need not follow them again.
     */
    const renew = (renewed: ReadonlyArray<readonly [EndpointRecord, number]>) =>
      Effect.zipRight(
        store.renew(renewed.map(([record, at]) => [record.registration.id, at] as const)),
        Effect.sync(() => {
          for (const [record, at] of renewed) renewInPlace(record, at)
        })
      )

    /** Reads what other replicas committed; their announcements and a timer both lead here. */
    const sync = serialized(Effect.zipRight(catchUp, publish).pipe(Effect.onError(() => discard)))

    /** Publishes new versions of known records without a change, holding the write lock. */
    const publishQuietly = (update: (records: HashMap.HashMap<string, EndpointRecord>) => ReadonlyArray<EndpointRecord>) =>
      serialized(Effect.flatMap(Ref.get(working), (state) => Effect.zipRight(stageQuietly(update(state.records)), publish)))

    return {
      published,
      shownNow,
      working: Ref.get(working),
      write,
      apply,
      touch,
      renew,
      sync,
      publishQuietly,
      history: Ref.get(history),
      nextChange
    }
  })

export type Journal = Effect.Effect.Success<ReturnType<typeof makeJournal>>
