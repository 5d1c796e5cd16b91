import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
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
import type { EndpointRecord } from "./record.js"
import { makePendingRenewals, renewalCheckInterval } from "./pending-renewals.js"
import { makeRenewalReader } from "./renewals.js"
import { makeFeed, type RegistryEvent } from "./feed.js"
import { type Journal, makeJournal, type RegistryState, stateOf } from "./journal.js"
import { makeLeaseUpkeep } from "./leases.js"
import { RegistryStore } from "./store.js"
import { makeLeaseTable } from "./lease-table.js"
import { endpointList, serviceSummaries, summarize, visibleEndpoints } from "./view.js"
import { makeWrites } from "./writes.js"

export type { RegistryEvent, RegistryState }

/** Change-log entries kept in the database for replicas that fell behind. */
const logSize = 10_000

export interface ServiceDetailView {
  readonly index: number
  readonly service: ReturnType<typeof summarize>
  readonly endpoints: ReadonlyArray<Endpoint>
}

/**
 * The endpoint directory. Every change bumps one monotonic index and is published once on
 * `changes`, which long-polls, WebSocket subscribers and embedders all read.
 */
export class Registry extends Context.Tag("miko/registry/Registry")<Registry, {
  /** Registers or updates (same id) an endpoint; `connection` ties it to a WebSocket connection. */
  readonly register: (
    service: string,
    registration: Registration,
    options?: { readonly connection?: string | undefined }
  ) => Effect.Effect<{ readonly endpoint: Endpoint; readonly created: boolean }, EndpointConflict | StorageError>
  readonly heartbeat: (service: string, id: string) => Effect.Effect<Endpoint, EndpointNotFound | StorageError>
  /**
   * The heartbeat of a passing lease, taken at once and answered from memory with the endpoint's
   * JSON (as `heartbeat` answers it); undefined when it needs `heartbeat` (the lease lapsed, or the
   * endpoint is unknown here). For the HTTP fast path.
   */
  readonly renewNow: (service: string, id: string, at: number) => string | undefined
  readonly deregister: (service: string, id: string) => Effect.Effect<void, EndpointNotFound | EndpointConflict | StorageError>
  readonly list: (filter: EndpointFilter, visibility: Visibility) => Effect.Effect<EndpointList>
  /** Mass-expiry protection as `GET /v1/services` shows it. */
  readonly protection: Effect.Effect<ProtectionStatus>
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

export const layer: Layer.Layer<Registry, StorageError, RegistryStore | ConfigService | Cluster | SqlClient.SqlClient> = Layer.scoped(
  Registry,
  Effect.gen(function*() {
    const store = yield* RegistryStore
    const config = yield* ConfigService
    const cluster = yield* Cluster
    const guard = yield* makeLeaseGuard({ config, cluster, store: makeProtectionStore(yield* SqlClient.SqlClient) })
    const renewals = makePendingRenewals({ shared: cluster.shared })
    const table = makeLeaseTable(cluster.replicaId)
    const loaded = yield* store.load
    const initial = stateOf(loaded)
    table.reset(loaded.records.map((record) => [record.registration.id, record] as const))
    const journal = yield* makeJournal(store, initial, table)
    const feed = makeFeed(journal)
    const upkeep = makeLeaseUpkeep({
      journal,
      store,
      config,
      cluster,
      guard,
      table,
      renewals,
      readRenewals: yield* makeRenewalReader(store.get)
    })

    const writes = makeWrites({ journal, cluster, renewals, table })
    const { syncStatic } = writes

    yield* syncStatic(yield* config.current)
    yield* upkeep.flushRenewals({ all: false }).pipe(
      Effect.catchAll((error) => Effect.logWarning(`lease renewals not saved yet: ${error.message}`)),
      Effect.catchAllDefect((defect) => Effect.logError("lease renewals not saved yet", defect)),
      Effect.repeat(Schedule.spaced(renewalCheckInterval(cluster.shared))),
      Effect.forkScoped
    )
    // On a clean stop the renewals of the last interval are saved too.
    yield* Effect.addFinalizer(() => upkeep.flushRenewals({ all: true }).pipe(Effect.ignore))
    yield* config.changes.pipe(
      Stream.drop(1),
      Stream.map((c) => c.registry.static),
      Stream.changesWith((a, b) => JSON.stringify(a) === JSON.stringify(b)),
      Stream.runForEach(() => Effect.flatMap(config.current, syncStatic)),
      Effect.catchAll((error) => Effect.logError(`registry.static not applied: ${error.message}`)),
      Effect.forkScoped
    )

    // Alone on the database, every change is this process's own: nothing to follow.
    if (cluster.shared) yield* followReplicas(journal, store, config)

    const current = Effect.sync(() => journal.shownNow())

    return Registry.of({
      register: writes.register,
      heartbeat: writes.heartbeat,
      renewNow: writes.renewNow,
      deregister: writes.deregister,
      list: (filter, visibility) => Effect.map(current, (s) => endpointList(s, visibility, filter)),
      protection: guard.status,
      services: (visibility) =>
        Effect.map(Effect.zip(current, guard.status), ([s, protection]) => ({
          index: s.index,
          services: serviceSummaries(s, visibility),
          protection
        })),
      service: (name, visibility) =>
        Effect.flatMap(current, (s) => {
          const endpoints = visibleEndpoints(s, visibility, { services: [name] })[name]
          return endpoints === undefined
            ? Effect.fail(new ServiceNotFound({ service: name, message: `no service ${JSON.stringify(name)} is registered` }))
            : Effect.succeed({ index: s.index, service: summarize(name, endpoints), endpoints })
        }),
      current,
      changes: feed.changes,
      watch: feed.watch,
      changesBetween: feed.changesBetween,
      awaitIndex: feed.awaitIndex,
      expireLeases: upkeep.expireLeases,
      checkFresh: cluster.checkFresh,
      trimLog: store.trim(logSize),
      setCheckStatus: writes.setCheckStatus,
      removeConnection: writes.removeConnection
    })
  })
)

/** Reads what other replicas committed, on their announcements and on a timer. */
const followReplicas = (journal: Journal, store: RegistryStore["Type"], config: ConfigService["Type"]) =>
  Effect.gen(function*() {
    const { syncInterval } = (yield* config.current).cluster
    const announced = store.announcements.pipe(Stream.filter((index) => index > journal.shownNow().index))
    yield* Stream.merge(announced, Stream.fromSchedule(Schedule.spaced(syncInterval))).pipe(
      Stream.runForEach(() =>
        journal.sync.pipe(
          Effect.catchAll((error) => Effect.logWarning(`directory not synchronized: ${error.message}`)),
          // Whatever one round meets, the next one still runs.
          Effect.catchAllDefect((defect) => Effect.logError("directory not synchronized", defect))
        )
      ),
      Effect.forkScoped
    )
  })
