import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { MikoConfig } from "../config/schema.js"
import { Cluster } from "../cluster/service.js"
import { ConfigService } from "../config/service.js"
import type { StorageError } from "../storage/errors.js"
import { EndpointConflict, EndpointNotFound, ServiceNotFound } from "./errors.js"
import { makeLeaseGuard } from "./guard.js"
import type {
  Endpoint,
  EndpointFilter,
  EndpointList,
  EndpointStatus,
  Registration,
  RegistryChange,
  Visibility
} from "./model.js"
import type { ProtectionStatus } from "./protection.js"
import { makeProtectionStore } from "./protection-store.js"
import { type EndpointRecord, sameDeclaration, staticRecords, statusOf, toEndpoint } from "./record.js"
import { makePendingRenewals, renewalCheckInterval } from "./pending-renewals.js"
import { makeRenewalReader } from "./renewals.js"
import { type LoggedChange, RegistryStore } from "./store.js"
import { lapsedAt, leasesOf, quietLeases, replicaOf, sweepCandidates } from "./sweep.js"
import { endpointList, summarize, visibleEndpoints } from "./view.js"

/** The directory at one change index, and the change that produced it. */
export interface RegistryState {
  readonly index: number
  readonly records: HashMap.HashMap<string, EndpointRecord>
  readonly change: RegistryChange | undefined
  /** The endpoint as the change left it (as it was, for a removal). */
  readonly changed: EndpointRecord | undefined
}

/** What a watcher receives: the whole directory once, or one change. */
export type RegistryEvent =
  | { readonly _tag: "Snapshot"; readonly state: RegistryState }
  | { readonly _tag: "Change"; readonly change: RegistryChange; readonly record: EndpointRecord }

/** How many recent changes are kept so a reconnecting watcher can resume without a snapshot. */
const historySize = 1024
/** Change-log entries kept in the database for replicas that fell behind. */
const logSize = 10_000
/** Lease renewals saved in one transaction at most. */
const renewalsPerTransaction = 500
/** Changes read from the log at a time while catching up. */
const catchUpBatch = 500

export interface ServiceDetailView {
  readonly index: number
  readonly service: ReturnType<typeof summarize>
  readonly endpoints: ReadonlyArray<Endpoint>
}

/**
 * The endpoint directory. Every change bumps one monotonic index and is published once on
 * `changes`, which long-polls, WebSocket subscribers and embedders all read.
 */
export class Registry extends Context.Tag("miko/Registry")<Registry, {
  /** Registers or updates (same id) an endpoint; `connection` ties it to a WebSocket connection. */
  readonly register: (
    service: string,
    registration: Registration,
    options?: { readonly connection?: string | undefined }
  ) => Effect.Effect<{ readonly endpoint: Endpoint; readonly created: boolean }, EndpointConflict | StorageError>
  readonly heartbeat: (service: string, id: string) => Effect.Effect<Endpoint, EndpointNotFound | StorageError>
  /**
   * The heartbeat of a passing lease, taken at once and answered from memory; undefined when it
   * needs `heartbeat` (the lease lapsed, or the endpoint is unknown here). For the HTTP fast path.
   */
  readonly renewNow: (service: string, id: string, at: number) => Endpoint | undefined
  readonly deregister: (service: string, id: string) => Effect.Effect<void, EndpointNotFound | EndpointConflict | StorageError>
  readonly list: (filter: EndpointFilter, visibility: Visibility) => Effect.Effect<EndpointList>
  readonly services: (visibility: Visibility) => Effect.Effect<{
    readonly index: number
    readonly services: ReadonlyArray<ReturnType<typeof summarize>>
    readonly protection: ProtectionStatus
  }>
  readonly service: (name: string, visibility: Visibility) => Effect.Effect<ServiceDetailView, ServiceNotFound>
  readonly current: Effect.Effect<RegistryState>
  /** The current state, then the state after each change, in index order with no gap. */
  readonly changes: Stream.Stream<RegistryState>
  /**
   * The directory as a stream of events: a snapshot (or, when `fromIndex` is recent enough, the
   * changes after it), then every change in index order, with no gap and no duplicate.
   */
  readonly watch: (fromIndex?: number) => Stream.Stream<RegistryEvent>
  /**
   * The changes after `from` up to and including `to`, when they are all still kept; `None`
   * when some are gone (the caller then starts from a snapshot).
   */
  readonly changesBetween: (
    from: number,
    to: number
  ) => Effect.Effect<Option.Option<ReadonlyArray<{ readonly change: RegistryChange; readonly record: EndpointRecord }>>>
  /** Waits until the index is past `after`; answers the index then. */
  readonly awaitIndex: (after: number) => Effect.Effect<number>
  /**
   * Turns endpoints whose lease ran out critical, removes those critical for too long and
   * those tied to a connection of a replica that is gone. Cluster-wide work: the leader's, which
   * took over at `takeover`: leases and critical times count from then, and neither expires
   * nor is removed while mass-expiry protection holds (protection.ts).
   */
  readonly expireLeases: (takeover: number) => Effect.Effect<void, StorageError>
  /** Fails once the database has been out of reach for longer than reads may go stale. */
  readonly checkFresh: Effect.Effect<void, StorageError>
  /** Drops change-log entries no replica needs any more. */
  readonly trimLog: Effect.Effect<void, StorageError>
  /** Records an active check's verdict; a change only when the status moves. */
  readonly setCheckStatus: (id: string, status: EndpointStatus) => Effect.Effect<void, StorageError>
  /** Removes every endpoint tied to a connection that closed. */
  readonly removeConnection: (connection: string) => Effect.Effect<void, StorageError>
}>() {}

const newId = (service: string) =>
  Effect.map(Random.nextIntBetween(0, 0xffffffff), (n) => `${service}-${n.toString(16).padStart(8, "0")}`)

const notFound = (service: string, id: string) =>
  new EndpointNotFound({ service, id, message: `no endpoint ${JSON.stringify(id)} in service ${JSON.stringify(service)}` })

/** The directory as loaded from the store: no change of its own to tell. */
const stateOf = (loaded: { readonly index: number; readonly records: ReadonlyArray<EndpointRecord> }): RegistryState => ({
  index: loaded.index,
  records: HashMap.fromIterable(loaded.records.map((record) => [record.registration.id, record] as const)),
  change: undefined,
  changed: undefined
})

export const layer: Layer.Layer<Registry, StorageError, RegistryStore | ConfigService | Cluster | SqlClient.SqlClient> = Layer.scoped(
  Registry,
  Effect.gen(function*() {
    const store = yield* RegistryStore
    const config = yield* ConfigService
    const cluster = yield* Cluster
    const guard = yield* makeLeaseGuard({ config, cluster, store: makeProtectionStore(yield* SqlClient.SqlClient) })
    const readRenewals = yield* makeRenewalReader(store.get)
    const renewals = makePendingRenewals({ shared: cluster.shared })
    const loaded = yield* store.load

    const initial = stateOf(loaded)
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
    const history = yield* Ref.make<ReadonlyArray<LoggedChange>>([])
    // Waiters for "the index moved" share one Deferred per index, replaced on every change:
    // a thousand blocked requests cost one completion, not a thousand stream subscriptions.
    const nextChange = yield* Ref.make(yield* Deferred.make<void>())
    const lock = yield* Effect.makeSemaphore(1)
    const serialized = lock.withPermits(1)

    /** Adds one change to the working state; it becomes visible when the write commits. */
    const stage = (entry: LoggedChange) =>
      Effect.gen(function*() {
        const current = yield* Ref.get(working)
        const id = entry.record.registration.id
        const records = entry.change.type === "deregistered"
          ? HashMap.remove(current.records, id)
          : HashMap.set(current.records, id, entry.record)
        const next: RegistryState = { index: entry.change.index, records, change: entry.change, changed: entry.record }
        yield* Ref.set(working, next)
        yield* Ref.update(staged, (states) => [...states, next])
      })

    /** A new working state that no watcher hears about as a change (a renewed lease, a reload). */
    const stageQuietly = (update: (state: RegistryState) => RegistryState) => Ref.update(working, update)

    /** Publishes what was staged, change by change, in index order. */
    const publish = Effect.gen(function*() {
      const states = yield* Ref.getAndSet(staged, [])
      for (const state of states) {
        if (state.change !== undefined && state.changed !== undefined) {
          const entry = { change: state.change, record: state.changed }
          yield* Ref.update(history, (entries) => [...entries.slice(-(historySize - 1)), entry])
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
      if (states.length > 0) {
        const fresh = yield* Deferred.make<void>()
        yield* Deferred.succeed(yield* Ref.getAndSet(nextChange, fresh), undefined)
      }
      return states.length
    })

    /** Forgets a write that did not commit. */
    const discard = Effect.zipRight(
      Ref.set(staged, []),
      Effect.flatMap(SubscriptionRef.get(published), (state) => Ref.set(working, state))
    )

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

    /**
     * Every change goes through here: one transaction holding the directory's write lock, the
     * working state first brought up to the log (another replica may have written), then the
     * operation, then commit, then publish. A failed write leaves nothing behind.
     */
    const write = <A, E>(operation: Effect.Effect<A, E>): Effect.Effect<A, E | StorageError> =>
      serialized(
        Effect.gen(function*() {
          const before = (yield* SubscriptionRef.get(published)).index
          const result = yield* store.transaction((committed) =>
            Effect.zipRight(
              Effect.flatMap(Ref.get(working), (state) => (state.index < committed ? catchUp : Effect.void)),
              operation
            )
          )
          yield* publish
          const after = (yield* SubscriptionRef.get(published)).index
          if (after > before) {
            yield* store.announce(after).pipe(Effect.catchAll((error) => Effect.logWarning(`change ${after} not announced: ${error.message}`)))
          }
          return result
        }).pipe(Effect.onError(() => discard))
      )

    /** Logs one change at the next index. */
    const apply = (type: RegistryChange["type"], record: EndpointRecord) =>
      Effect.gen(function*() {
        const index = (yield* Ref.get(working)).index + 1
        const entry = { change: { index, type, service: record.service, endpointId: record.registration.id }, record }
        yield* store.commit(entry)
        yield* stage(entry)
      })

    /** Saves an endpoint whose change callers need not hear about (a renewed lease). */
    const touch = (record: EndpointRecord) =>
      Effect.zipRight(
        store.touch(record),
        stageQuietly((state) => ({ ...state, records: HashMap.set(state.records, record.registration.id, record) }))
      )

    const find = (service: string, id: string) =>
      Effect.flatMap(Ref.get(working), (current) =>
        Option.match(HashMap.get(current.records, id), {
          onNone: () => Effect.fail(notFound(service, id)),
          onSome: (record) => (record.service === service ? Effect.succeed(record) : Effect.fail(notFound(service, id)))
        }))

    /** `criticalSince` follows the status: set when it turns critical, cleared when it leaves. */
    const withCriticalSince = (record: EndpointRecord, at: number): EndpointRecord => {
      const critical = statusOf(record) === "critical"
      return { ...record, criticalSince: critical ? (record.criticalSince ?? at) : undefined }
    }

    /** A status move is a change; anything else only renews what is stored. */
    const update = (before: EndpointRecord, after: EndpointRecord) =>
      statusOf(after) !== statusOf(before) ? apply("status", after) : touch(after)

    const register = (service: string, registration: Registration, options?: { readonly connection?: string | undefined }) =>
      write(Effect.gen(function*() {
        const current = yield* Ref.get(working)
        const at = yield* Clock.currentTimeMillis
        const id = registration.id ?? (yield* newId(service))
        const existing = Option.getOrUndefined(HashMap.get(current.records, id))
        if (existing !== undefined && existing.service !== service) {
          return yield* new EndpointConflict({ id, message: `endpoint id ${JSON.stringify(id)} already belongs to service ${JSON.stringify(existing.service)}` })
        }
        if (existing?.source === "static") {
          return yield* new EndpointConflict({ id, message: `endpoint ${JSON.stringify(id)} is declared in registry.static; change it in the configuration` })
        }
        const sameCheck = JSON.stringify(existing?.registration.check) === JSON.stringify(registration.check)
        const owner = options?.connection === undefined ? undefined : `${cluster.replicaId}/${options.connection}`
        const record = withCriticalSince({
          service,
          registration: { ...registration, id },
          source: "registered",
          registeredAt: existing?.registeredAt ?? at,
          lastSeenAt: at,
          leaseStatus: "passing",
          // A new check starts critical: no traffic until it has passed once.
          checkStatus: registration.check === undefined ? undefined : sameCheck && existing !== undefined ? existing.checkStatus : "critical",
          criticalSince: existing?.criticalSince,
          connection: owner ?? existing?.connection
        }, at)
        const unchanged = existing !== undefined && sameDeclaration(existing, record) && statusOf(existing) === statusOf(record) &&
          existing.connection === record.connection
        if (unchanged) yield* touch(record)
        else yield* apply(existing === undefined ? "registered" : "updated", record)
        return { endpoint: toEndpoint(record, "internal")!, created: existing === undefined }
      }))

    /**
     * A heartbeat on a passing lease changes nothing callers see: it is noted in memory and
     * answered at once, without the write lock or a transaction (see pending-renewals.ts).
     * Undefined when the heartbeat is a change (a lapsed lease) or names no known endpoint.
     */
    const renewNow = (service: string, id: string, at: number): Endpoint | undefined => {
      const known = Option.getOrUndefined(HashMap.get(shownNow.records, id))
      if (known === undefined || known.service !== service || known.leaseStatus !== "passing") return undefined
      const ttl = known.registration.ttl
      renewals.note(id, at, ttl === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(ttl))
      return toEndpoint({ ...known, lastSeenAt: at }, "internal")
    }

    const renewInMemory = (service: string, id: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => Effect.sync(() => renewNow(service, id, at)))

    /** A heartbeat that moves a status (a lapsed lease coming back) is a change, durable before it is answered. */
    const renewDurably = (service: string, id: string) =>
      write(Effect.gen(function*() {
        const record = renewals.withRenewal(yield* find(service, id))
        const at = yield* Clock.currentTimeMillis
        const next = withCriticalSince({ ...record, lastSeenAt: at, leaseStatus: "passing" }, at)
        yield* update(record, next)
        return toEndpoint(next, "internal")!
      }))

    const heartbeat = (service: string, id: string) =>
      Effect.flatMap(renewInMemory(service, id), (endpoint) => (endpoint === undefined ? renewDurably(service, id) : Effect.succeed(endpoint)))

    /** Writes the renewals taken since the last flush in one transaction; a failed flush is tried again with the next. */
    const flushRenewals = (options: { readonly all: boolean }) => Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const taken = Array.from(yield* renewals.take(now, options.all))
      // In slices, each its own transaction: a registration waits for one slice, never for a whole fleet's renewals.
      for (let start = 0; start < taken.length; start += renewalsPerTransaction) {
        yield* write(Effect.gen(function*() {
          const { records } = yield* Ref.get(working)
          for (const [id, at] of taken.slice(start, start + renewalsPerTransaction)) {
            const record = Option.getOrUndefined(HashMap.get(records, id))
            if (record !== undefined && at > record.lastSeenAt) yield* touch({ ...record, lastSeenAt: at })
          }
        })).pipe(Effect.tapError(() => renewals.restore(new Map(taken.slice(start)), now)))
      }
    })

    const deregister = (service: string, id: string) =>
      write(Effect.gen(function*() {
        const record = yield* find(service, id)
        if (record.source === "static") {
          return yield* new EndpointConflict({ id, message: `endpoint ${JSON.stringify(id)} is declared in registry.static; remove it from the configuration` })
        }
        yield* apply("deregistered", record)
      }))

    const removeAfter = Effect.map(config.current, (c) => Duration.toMillis(c.registry.deregisterCriticalAfter))

    /** Takes up leases renewed on other replicas (stored without a change) into this one's copy. */
    const takeUpRenewals = (renewed: ReadonlyArray<EndpointRecord>) =>
      renewed.length === 0 ? Effect.void : serialized(
        Effect.zipRight(
          stageQuietly((state) => ({
            ...state,
            records: renewed.reduce((records, stored) =>
              Option.match(HashMap.get(records, stored.registration.id), {
                onNone: () => records,
                onSome: (known) => HashMap.set(records, stored.registration.id, { ...known, lastSeenAt: Math.max(known.lastSeenAt, stored.lastSeenAt) })
              }), state.records)
          })),
          publish
        )
      )

    const expireLeases = (takeover: number) => Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      const records = () => Effect.map(SubscriptionRef.get(published), (state) => Array.from(HashMap.values(state.records), renewals.withRenewal))
      // Alone on the database, every heartbeat came through here: nothing renewed elsewhere.
      if (cluster.shared) yield* takeUpRenewals(yield* readRenewals(quietLeases(yield* records(), at), at))
      const { expire, countingFrom } = yield* guard.judge(leasesOf(yield* records()), at, takeover)
      const rules = { countingFrom, expire, removeAfter: yield* removeAfter, replicaId: cluster.replicaId }
      const seen = sweepCandidates(yield* records(), at, rules)
      // Endpoints tied to a connection of a replica that stopped checking in lost that connection.
      const live = seen.owned.length > 0 ? yield* cluster.liveReplicas : new Set<string>()
      const orphaned = (record: EndpointRecord) => record.connection !== undefined && !live.has(replicaOf(record.connection))
      if (seen.leases.length === 0 && seen.removals.length === 0 && !seen.owned.some(orphaned)) return
      yield* write(Effect.gen(function*() {
        const judged = Array.from(HashMap.values((yield* Ref.get(working)).records), renewals.withRenewal)
        const { leases, removals, owned } = sweepCandidates(judged, at, rules)
        for (const known of leases) {
          // The stored lease may have been renewed on another replica since.
          const stored = yield* store.get(known.registration.id)
          const current = stored === undefined ? known : renewals.withRenewal({ ...stored, lastSeenAt: Math.max(stored.lastSeenAt, known.lastSeenAt) })
          if (lapsedAt(current, at, countingFrom)) yield* update(current, withCriticalSince({ ...current, leaseStatus: "critical" }, at))
        }
        for (const record of removals) {
          yield* Effect.logInfo(`removing endpoint ${record.registration.id} of ${record.service}: critical for longer than registry.deregisterCriticalAfter`)
          yield* apply("deregistered", record)
        }
        for (const record of owned.filter(orphaned)) {
          yield* Effect.logInfo(`removing ephemeral endpoint ${record.registration.id} of ${record.service}: its replica is gone`)
          yield* apply("deregistered", record)
        }
      }))
    })

    // Most verdicts repeat the last one: those are settled without taking the write lock.
    const setCheckStatus = (id: string, status: EndpointStatus) =>
      Effect.flatMap(SubscriptionRef.get(published), (shown) =>
        Option.match(HashMap.get(shown.records, id), {
          onNone: () => Effect.void,
          onSome: (known) => (known.checkStatus === status ? Effect.void : recordCheckStatus(id, status))
        }))

    const recordCheckStatus = (id: string, status: EndpointStatus) =>
      write(Effect.gen(function*() {
        const record = Option.getOrUndefined(HashMap.get((yield* Ref.get(working)).records, id))
        if (record === undefined || record.checkStatus === status) return
        const at = yield* Clock.currentTimeMillis
        yield* update(record, withCriticalSince({ ...record, checkStatus: status, lastSeenAt: status === "passing" ? at : record.lastSeenAt }, at))
      }))

    const removeConnection = (connection: string) =>
      write(Effect.gen(function*() {
        const owner = `${cluster.replicaId}/${connection}`
        for (const record of HashMap.values((yield* Ref.get(working)).records)) {
          if (record.connection === owner) yield* apply("deregistered", record)
        }
      }))

    /**
     * Static endpoints follow `registry.static` live: each addition, edit or removal is one
     * change. Replicas share one configuration, so whichever applies it first does the work
     * and the others find nothing left to do.
     */
    const syncStatic = (next: MikoConfig) =>
      write(Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const wanted = new Map(staticRecords(next.registry.static, at).map((r) => [r.registration.id, r]))
        for (const record of HashMap.values((yield* Ref.get(working)).records)) {
          if (record.source === "static" && !wanted.has(record.registration.id)) yield* apply("deregistered", record)
        }
        for (const [id, record] of wanted) {
          const existing = Option.getOrUndefined(HashMap.get((yield* Ref.get(working)).records, id))
          if (existing !== undefined && existing.source !== "static") {
            yield* Effect.logWarning(`registry.static endpoint ${id} is ignored: a registered endpoint has that id`)
            continue
          }
          if (existing !== undefined && sameDeclaration(existing, record)) continue
          yield* apply(existing === undefined ? "registered" : "updated", existing === undefined ? record : { ...record, registeredAt: existing.registeredAt })
        }
      }))

    yield* syncStatic(yield* config.current)
    yield* flushRenewals({ all: false }).pipe(
      Effect.catchAll((error) => Effect.logWarning(`lease renewals not saved yet: ${error.message}`)),
      Effect.catchAllDefect((defect) => Effect.logError("lease renewals not saved yet", defect)),
      Effect.repeat(Schedule.spaced(renewalCheckInterval(cluster.shared))),
      Effect.forkScoped
    )
    // On a clean stop the renewals of the last interval are saved too.
    yield* Effect.addFinalizer(() => flushRenewals({ all: true }).pipe(Effect.ignore))
    yield* config.changes.pipe(
      Stream.drop(1),
      Stream.map((c) => c.registry.static),
      Stream.changesWith((a, b) => JSON.stringify(a) === JSON.stringify(b)),
      Stream.runForEach(() => Effect.flatMap(config.current, syncStatic)),
      Effect.catchAll((error) => Effect.logError(`registry.static not applied: ${error.message}`)),
      Effect.forkScoped
    )

    /** Reads what other replicas committed; their announcements and a timer both lead here. */
    const sync = serialized(
      Effect.gen(function*() {
        yield* catchUp
        yield* publish
      }).pipe(Effect.onError(() => discard))
    )
    const { syncInterval } = (yield* config.current).cluster
    const announced = store.announcements.pipe(
      Stream.filterEffect((index) => Effect.map(SubscriptionRef.get(published), (state) => index > state.index))
    )
    // Alone on the database, every change is this process's own: nothing to follow.
    if (cluster.shared) {
      yield* Stream.merge(announced, Stream.fromSchedule(Schedule.spaced(syncInterval))).pipe(
        Stream.runForEach(() =>
          sync.pipe(
            Effect.catchAll((error) => Effect.logWarning(`directory not synchronized: ${error.message}`)),
            // Whatever one round meets, the next one still runs.
            Effect.catchAllDefect((defect) => Effect.logError("directory not synchronized", defect))
          )
        ),
        Effect.forkScoped
      )
    }

    const current = SubscriptionRef.get(published)

    return Registry.of({
      register,
      heartbeat,
      renewNow,
      deregister,
      list: (filter, visibility) => Effect.map(current, (s) => endpointList(s.index, s.records, visibility, filter)),
      services: (visibility) =>
        Effect.map(Effect.zip(current, guard.status), ([s, protection]) => ({
          index: s.index,
          services: Object.entries(visibleEndpoints(s.records, visibility)).map(([name, endpoints]) => summarize(name, endpoints)),
          protection
        })),
      service: (name, visibility) =>
        Effect.flatMap(current, (s) => {
          const endpoints = visibleEndpoints(s.records, visibility, { services: [name] })[name]
          return endpoints === undefined
            ? Effect.fail(new ServiceNotFound({ service: name, message: `no service ${JSON.stringify(name)} is registered` }))
            : Effect.succeed({ index: s.index, service: summarize(name, endpoints), endpoints })
        }),
      current,
      changes: Stream.changesWith(published.changes, (a, b) => a.index === b.index),
      watch: (fromIndex) =>
        Stream.changesWith(published.changes, (a, b) => a.index === b.index).pipe(
          Stream.mapAccumEffect(undefined as number | undefined, (seen, s): Effect.Effect<readonly [number, ReadonlyArray<RegistryEvent>]> => {
            if (seen === undefined) {
              return Effect.map(Ref.get(history), (entries) => {
                const replay = entries.filter((e) => fromIndex !== undefined && e.change.index > fromIndex && e.change.index <= s.index)
                const covered = fromIndex !== undefined && fromIndex <= s.index &&
                  (fromIndex === s.index || replay[0]?.change.index === fromIndex + 1)
                const first: ReadonlyArray<RegistryEvent> = covered
                  ? replay.map((e) => ({ _tag: "Change" as const, change: e.change, record: e.record }))
                  : [{ _tag: "Snapshot" as const, state: s }]
                return [s.index, first] as const
              })
            }
            if (s.index <= seen) return Effect.succeed([seen, []] as const)
            // A reload after falling behind carries no single change: watchers start over from it.
            const events: ReadonlyArray<RegistryEvent> = s.change !== undefined && s.changed !== undefined && s.change.index === s.index
              ? [{ _tag: "Change", change: s.change, record: s.changed }]
              : [{ _tag: "Snapshot", state: s }]
            return Effect.succeed([s.index, events] as const)
          }),
          Stream.flattenIterables
        ),
      changesBetween: (from, to) =>
        Effect.map(Ref.get(history), (entries) => {
          if (from >= to) return Option.some([])
          const wanted = entries.filter((e) => e.change.index > from && e.change.index <= to)
          return wanted.length === to - from ? Option.some(wanted) : Option.none()
        }),
      awaitIndex: (after) => {
        const loop: Effect.Effect<number> = Effect.gen(function*() {
          const waitFor = yield* Ref.get(nextChange)
          const { index } = yield* SubscriptionRef.get(published)
          // An index from the future belongs to another history (a reset store): answer at once.
          if (index > after || after > index) return index
          yield* Deferred.await(waitFor)
          return yield* loop
        })
        return loop
      },
      expireLeases,
      checkFresh: cluster.checkFresh,
      trimLog: store.trim(logSize),
      setCheckStatus,
      removeConnection
    })
  })
)
