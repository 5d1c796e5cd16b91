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
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { MikoConfig } from "../config/schema.js"
import { ConfigService } from "../config/service.js"
import type { StorageError } from "../storage/errors.js"
import { EndpointConflict, EndpointNotFound, ServiceNotFound } from "./errors.js"
import type {
  Endpoint,
  EndpointFilter,
  EndpointList,
  EndpointStatus,
  Registration,
  RegistryChange,
  Visibility
} from "./model.js"
import { type EndpointRecord, sameDeclaration, staticRecords, statusOf, toEndpoint } from "./record.js"
import { RegistryStore } from "./store.js"
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
  readonly deregister: (service: string, id: string) => Effect.Effect<void, EndpointNotFound | EndpointConflict | StorageError>
  readonly list: (filter: EndpointFilter, visibility: Visibility) => Effect.Effect<EndpointList>
  readonly services: (visibility: Visibility) => Effect.Effect<{ readonly index: number; readonly services: ReadonlyArray<ReturnType<typeof summarize>> }>
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
  /** Turns endpoints whose lease ran out critical, and removes those critical for too long. */
  readonly expireLeases: Effect.Effect<void, StorageError>
  /** Records an active check's verdict; a change only when the status moves. */
  readonly setCheckStatus: (id: string, status: EndpointStatus) => Effect.Effect<void, StorageError>
  /** Removes every endpoint tied to a connection that closed. */
  readonly removeConnection: (connection: string) => Effect.Effect<void, StorageError>
}>() {}

const newId = (service: string) =>
  Effect.map(Random.nextIntBetween(0, 0xffffffff), (n) => `${service}-${n.toString(16).padStart(8, "0")}`)

export const layer: Layer.Layer<Registry, StorageError, RegistryStore | ConfigService> = Layer.scoped(
  Registry,
  Effect.gen(function*() {
    const store = yield* RegistryStore
    const config = yield* ConfigService
    const loaded = yield* store.load
    const now = yield* Clock.currentTimeMillis
    const initialConfig = yield* config.current

    // Index moves past what any client saw before the restart, so their waits end and they re-read.
    const startIndex = loaded.index + 1
    yield* store.saveIndex(startIndex)
    let records = HashMap.empty<string, EndpointRecord>()
    for (const record of loaded.records) {
      // Ephemeral endpoints lived as long as a WebSocket connection; none survives a restart.
      if (record.connection !== undefined) yield* store.remove(record.registration.id, startIndex)
      else records = HashMap.set(records, record.registration.id, record)
    }
    for (const record of staticRecords(initialConfig.registry.static, now)) {
      records = HashMap.set(records, record.registration.id, record)
    }
    const state = yield* SubscriptionRef.make<RegistryState>({ index: startIndex, records, change: undefined, changed: undefined })
    const history = yield* Ref.make<ReadonlyArray<{ readonly change: RegistryChange; readonly record: EndpointRecord }>>([])
    // Waiters for "the index moved" share one Deferred per index, replaced on every change:
    // a thousand blocked requests cost one completion, not a thousand stream subscriptions.
    const nextChange = yield* Ref.make(yield* Deferred.make<void>())
    const writes = yield* Effect.makeSemaphore(1)
    const serialized = writes.withPermits(1)

    /** Applies one change: persist first, then publish, so memory never runs ahead of storage. */
    const apply = (
      current: RegistryState,
      type: RegistryChange["type"],
      record: EndpointRecord,
      persist: (index: number) => Effect.Effect<void, StorageError>
    ) =>
      Effect.gen(function*() {
        const index = current.index + 1
        yield* persist(index)
        const next = type === "deregistered"
          ? HashMap.remove(current.records, record.registration.id)
          : HashMap.set(current.records, record.registration.id, record)
        const change: RegistryChange = { index, type, service: record.service, endpointId: record.registration.id }
        yield* Ref.update(history, (entries) => [...entries.slice(-(historySize - 1)), { change, record }])
        yield* SubscriptionRef.set(state, { index, records: next, change, changed: record })
        const fresh = yield* Deferred.make<void>()
        yield* Deferred.succeed(yield* Ref.getAndSet(nextChange, fresh), undefined)
        return index
      })

    const persistRecord = (record: EndpointRecord) => (index: number) =>
      record.source === "static" ? Effect.void : store.save(record, index)
    const persistRemoval = (record: EndpointRecord) => (index: number) =>
      record.source === "static" ? Effect.void : store.remove(record.registration.id, index)

    const find = (service: string, id: string) =>
      Effect.flatMap(SubscriptionRef.get(state), (current) =>
        Option.match(HashMap.get(current.records, id), {
          onNone: () => Effect.fail(new EndpointNotFound({ service, id, message: `no endpoint ${JSON.stringify(id)} in service ${JSON.stringify(service)}` })),
          onSome: (record) =>
            record.service === service
              ? Effect.succeed({ current, record })
              : Effect.fail(new EndpointNotFound({ service, id, message: `no endpoint ${JSON.stringify(id)} in service ${JSON.stringify(service)}` }))
        }))

    /** `criticalSince` follows the status: set when it turns critical, cleared when it leaves. */
    const withCriticalSince = (record: EndpointRecord, at: number): EndpointRecord => {
      const critical = statusOf(record) === "critical"
      return { ...record, criticalSince: critical ? (record.criticalSince ?? at) : undefined }
    }

    const register = (service: string, registration: Registration, options?: { readonly connection?: string | undefined }) =>
      serialized(Effect.gen(function*() {
        const current = yield* SubscriptionRef.get(state)
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
          connection: options?.connection ?? existing?.connection
        }, at)
        const unchanged = existing !== undefined && sameDeclaration(existing, record) && statusOf(existing) === statusOf(record)
        if (unchanged) {
          yield* store.save(record, current.index)
          yield* SubscriptionRef.set(state, { ...current, records: HashMap.set(current.records, id, record), change: current.change })
        } else {
          yield* apply(current, existing === undefined ? "registered" : "updated", record, persistRecord(record))
        }
        return { endpoint: toEndpoint(record, "internal")!, created: existing === undefined }
      }))

    const heartbeat = (service: string, id: string) =>
      serialized(Effect.gen(function*() {
        const { current, record } = yield* find(service, id)
        const at = yield* Clock.currentTimeMillis
        const next = withCriticalSince({ ...record, lastSeenAt: at, leaseStatus: "passing" }, at)
        if (statusOf(next) !== statusOf(record)) {
          yield* apply(current, "status", next, persistRecord(next))
        } else {
          // Only the lease moved: stored, but not a change callers need to hear about.
          yield* persistRecord(next)(current.index)
          yield* SubscriptionRef.set(state, { ...current, records: HashMap.set(current.records, id, next) })
        }
        return toEndpoint(next, "internal")!
      }))

    const deregister = (service: string, id: string) =>
      serialized(Effect.gen(function*() {
        const { current, record } = yield* find(service, id)
        if (record.source === "static") {
          return yield* new EndpointConflict({ id, message: `endpoint ${JSON.stringify(id)} is declared in registry.static; remove it from the configuration` })
        }
        yield* apply(current, "deregistered", record, persistRemoval(record))
      }))

    const criticalLimit = Effect.map(config.current, (c) => Duration.toMillis(c.registry.deregisterCriticalAfter))

    const expireLeases = serialized(Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      const limit = yield* criticalLimit
      const snapshot = yield* SubscriptionRef.get(state)
      for (const record of HashMap.values(snapshot.records)) {
        if (record.source === "static") continue
        const ttl = record.registration.ttl
        const current = yield* SubscriptionRef.get(state)
        if (ttl !== undefined && record.leaseStatus === "passing" && at - record.lastSeenAt > Duration.toMillis(ttl)) {
          const next = withCriticalSince({ ...record, leaseStatus: "critical" }, at)
          if (statusOf(next) !== statusOf(record)) yield* apply(current, "status", next, persistRecord(next))
          else yield* persistRecord(next)(current.index)
          continue
        }
        if (record.criticalSince !== undefined && at - record.criticalSince >= limit) {
          yield* Effect.logInfo(`removing endpoint ${record.registration.id} of ${record.service}: critical for longer than registry.deregisterCriticalAfter`)
          yield* apply(current, "deregistered", record, persistRemoval(record))
        }
      }
    }))

    const setCheckStatus = (id: string, status: EndpointStatus) =>
      serialized(Effect.gen(function*() {
        const current = yield* SubscriptionRef.get(state)
        const record = Option.getOrUndefined(HashMap.get(current.records, id))
        if (record === undefined || record.checkStatus === status) return
        const at = yield* Clock.currentTimeMillis
        const next = withCriticalSince({ ...record, checkStatus: status, lastSeenAt: status === "passing" ? at : record.lastSeenAt }, at)
        if (statusOf(next) !== statusOf(record)) yield* apply(current, "status", next, persistRecord(next))
        else yield* persistRecord(next)(current.index)
        if (statusOf(next) === statusOf(record)) {
          yield* SubscriptionRef.set(state, { ...current, records: HashMap.set(current.records, id, next) })
        }
      }))

    const removeConnection = (connection: string) =>
      serialized(Effect.gen(function*() {
        const snapshot = yield* SubscriptionRef.get(state)
        for (const record of HashMap.values(snapshot.records)) {
          if (record.connection !== connection) continue
          yield* apply(yield* SubscriptionRef.get(state), "deregistered", record, persistRemoval(record))
        }
      }))

    /** Static endpoints follow `registry.static` live: each addition, edit or removal is one change. */
    const syncStatic = (next: MikoConfig) =>
      serialized(Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const wanted = new Map(staticRecords(next.registry.static, at).map((r) => [r.registration.id, r]))
        const snapshot = yield* SubscriptionRef.get(state)
        for (const record of HashMap.values(snapshot.records)) {
          if (record.source === "static" && !wanted.has(record.registration.id)) {
            yield* apply(yield* SubscriptionRef.get(state), "deregistered", record, persistRemoval(record))
          }
        }
        for (const [id, record] of wanted) {
          const current = yield* SubscriptionRef.get(state)
          const existing = Option.getOrUndefined(HashMap.get(current.records, id))
          if (existing !== undefined && existing.source !== "static") {
            yield* Effect.logWarning(`registry.static endpoint ${id} is ignored: a registered endpoint has that id`)
            continue
          }
          if (existing !== undefined && sameDeclaration(existing, record)) continue
          yield* apply(current, existing === undefined ? "registered" : "updated", existing === undefined ? record : { ...record, registeredAt: existing.registeredAt }, persistRecord(record))
        }
      }))

    yield* config.changes.pipe(
      Stream.drop(1),
      Stream.map((c) => c.registry.static),
      Stream.changesWith((a, b) => JSON.stringify(a) === JSON.stringify(b)),
      Stream.runForEach(() => Effect.flatMap(config.current, syncStatic)),
      Effect.catchAll((error) => Effect.logError(`registry.static not applied: ${error.message}`)),
      Effect.forkScoped
    )

    const current = SubscriptionRef.get(state)

    return Registry.of({
      register,
      heartbeat,
      deregister,
      list: (filter, visibility) => Effect.map(current, (s) => endpointList(s.index, s.records, visibility, filter)),
      services: (visibility) =>
        Effect.map(current, (s) => ({
          index: s.index,
          services: Object.entries(visibleEndpoints(s.records, visibility)).map(([name, endpoints]) => summarize(name, endpoints))
        })),
      service: (name, visibility) =>
        Effect.flatMap(current, (s) => {
          const endpoints = visibleEndpoints(s.records, visibility, { services: [name] })[name]
          return endpoints === undefined
            ? Effect.fail(new ServiceNotFound({ service: name, message: `no service ${JSON.stringify(name)} is registered` }))
            : Effect.succeed({ index: s.index, service: summarize(name, endpoints), endpoints })
        }),
      current,
      changes: Stream.changesWith(state.changes, (a, b) => a.index === b.index),
      watch: (fromIndex) =>
        Stream.changesWith(state.changes, (a, b) => a.index === b.index).pipe(
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
            const events: ReadonlyArray<RegistryEvent> = s.change !== undefined && s.changed !== undefined && s.index > seen
              ? [{ _tag: "Change", change: s.change, record: s.changed }]
              : []
            return Effect.succeed([Math.max(seen, s.index), events] as const)
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
          const { index } = yield* SubscriptionRef.get(state)
          if (index > after) return index
          yield* Deferred.await(waitFor)
          return yield* loop
        })
        return loop
      },
      expireLeases,
      setCheckStatus,
      removeConnection
    })
  })
)
