import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type { Cluster } from "../cluster/service.js"
import type { MikoConfig } from "../config/schema.js"
import { EndpointConflict, EndpointNotFound } from "./errors.js"
import type { Journal } from "./journal.js"
import { updateRecord, withCriticalSince } from "./leases.js"
import { countDeregistration } from "./metrics.js"
import type { Endpoint, EndpointStatus, Registration } from "./model.js"
import type { PendingRenewals } from "./pending-renewals.js"
import { type EndpointRecord, sameDeclaration, staticRecords, statusOf, toEndpoint } from "./record.js"
import type { LeaseTable } from "./lease-table.js"

const newId = (service: string) =>
  Effect.map(Random.nextIntBetween(0, 0xffffffff), (n) => `${service}-${n.toString(16).padStart(8, "0")}`)

const ttlMillisOf = (record: EndpointRecord) =>
  record.registration.ttl === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(record.registration.ttl)

/** Where an answer's lastSeenAt starts: toEndpoint puts it after everything but the ttl, so the last such text is it. */
const lastSeenKey = '"lastSeenAt":"'
const isoLength = new Date(0).toISOString().length

/** The endpoint's JSON around its lastSeenAt, so that later heartbeats only put in their own time. */
const answerAround = (record: EndpointRecord): ((at: number) => string) => {
  const json = JSON.stringify(toEndpoint(record, "internal"))
  const start = json.lastIndexOf(lastSeenKey) + lastSeenKey.length
  const head = json.slice(0, start)
  const tail = json.slice(start + isoLength)
  return (at) => head + new Date(at).toISOString() + tail
}

/** Heartbeat answers kept ready (see renewNow). */
const answersKept = 4096

/** Whether two records of one registration show the same endpoint, but for lastSeenAt. */
const sameAnswer = (a: EndpointRecord, b: EndpointRecord) =>
  a.service === b.service && a.source === b.source && a.registeredAt === b.registeredAt && statusOf(a) === statusOf(b)

const notFound = (service: string, id: string) =>
  new EndpointNotFound({ service, id, message: `no endpoint ${JSON.stringify(id)} in service ${JSON.stringify(service)}` })

/** The directory's domain operations: each one write through the journal, or none at all (a heartbeat in memory). */
export const makeWrites = (deps: {
  readonly journal: Journal
  readonly cluster: Cluster["Type"]
  readonly renewals: PendingRenewals
  readonly table: LeaseTable
}) => {
  const { cluster, journal, renewals, table } = deps
  const { apply, touch, write } = journal

  const find = (service: string, id: string) =>
    Effect.flatMap(journal.working, (current) =>
      Option.match(HashMap.get(current.records, id), {
        onNone: () => Effect.fail(notFound(service, id)),
        onSome: (record) => (record.service === service ? Effect.succeed(record) : Effect.fail(notFound(service, id)))
      }))

  const register = (service: string, registration: Registration, options?: { readonly connection?: string | undefined }) =>
    write(Effect.gen(function*() {
      const current = yield* journal.working
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
   * Answers the record as it was before, which stays the same object until a real change.
   */
  const passingLease = (service: string, id: string): EndpointRecord | undefined => {
    const known = table.recordOf(id) ?? Option.getOrUndefined(HashMap.get(journal.shownNow().records, id))
    return known === undefined || known.service !== service || known.leaseStatus !== "passing" ? undefined : known
  }

  /** Takes the renewal; true when the lease was renewed already since the last save (a frequent heartbeat). */
  const renew = (known: EndpointRecord, at: number): boolean => {
    table.renew(known.registration.id, at)
    return renewals.note(known.registration.id, at, ttlMillisOf(known))
  }

  /**
   * The heartbeat's answer as JSON. An endpoint heard from more than once between two saves of
   * the renewals gets its answer cut around its lastSeenAt once and kept; the others are
   * rendered anew, since a fleet's endpoints heartbeat every few seconds each and an answer kept
   * for every one of them (about half a kilobyte) would be old-generation memory the collector
   * keeps marking. Keyed by the registration, which a renewed record keeps, and made again when
   * anything else the answer shows has moved.
   */
  const answers = new Map<Registration, { readonly basis: EndpointRecord; readonly answer: (at: number) => string }>()
  const renewNow = (service: string, id: string, at: number): string | undefined => {
    const known = passingLease(service, id)
    if (known === undefined) return undefined
    const again = renew(known, at)
    const cached = answers.get(known.registration)
    if (cached !== undefined && sameAnswer(cached.basis, known)) return cached.answer(at)
    if (!again) return JSON.stringify(toEndpoint({ ...known, lastSeenAt: at }, "internal"))
    const made = { basis: known, answer: answerAround(known) }
    // Full, it starts over: cheaper than evicting one at a time, whose deleted entries an
    // iterator from the oldest would step over on every eviction.
    if (answers.size >= answersKept) answers.clear()
    answers.set(known.registration, made)
    return made.answer(at)
  }

  const renewInMemory = (service: string, id: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) =>
      Effect.sync(() => {
        const known = passingLease(service, id)
        if (known === undefined) return undefined
        renew(known, at)
        return toEndpoint({ ...known, lastSeenAt: at }, "internal")
      }))

  /** A heartbeat that moves a status (a lapsed lease coming back) is a change, durable before it is answered. */
  const renewDurably = (service: string, id: string) =>
    write(Effect.gen(function*() {
      const record = renewals.withRenewal(yield* find(service, id))
      const at = yield* Clock.currentTimeMillis
      const next = withCriticalSince({ ...record, lastSeenAt: at, leaseStatus: "passing" }, at)
      yield* updateRecord(journal, record, next)
      return toEndpoint(next, "internal")!
    }))

  const heartbeat = (service: string, id: string) =>
    Effect.flatMap(renewInMemory(service, id), (endpoint) => (endpoint === undefined ? renewDurably(service, id) : Effect.succeed(endpoint)))

  const deregister = (service: string, id: string) =>
    write(Effect.gen(function*() {
      const record = yield* find(service, id)
      if (record.source === "static") {
        return yield* new EndpointConflict({ id, message: `endpoint ${JSON.stringify(id)} is declared in registry.static; remove it from the configuration` })
      }
      yield* apply("deregistered", record)
    }))

  // Most verdicts repeat the last one: those are settled without taking the write lock.
  const setCheckStatus = (id: string, status: EndpointStatus) =>
    Effect.suspend(() =>
      Option.match(HashMap.get(journal.shownNow().records, id), {
        onNone: () => Effect.void,
        onSome: (known) => (known.checkStatus === status ? Effect.void : recordCheckStatus(id, status))
      })
    )

  const recordCheckStatus = (id: string, status: EndpointStatus) =>
    write(Effect.gen(function*() {
      const record = Option.getOrUndefined(HashMap.get((yield* journal.working).records, id))
      if (record === undefined || record.checkStatus === status) return
      const at = yield* Clock.currentTimeMillis
      yield* updateRecord(journal, record, withCriticalSince({ ...record, checkStatus: status, lastSeenAt: status === "passing" ? at : record.lastSeenAt }, at))
    }))

  const removeConnection = (connection: string) =>
    write(Effect.gen(function*() {
      const owner = `${cluster.replicaId}/${connection}`
      for (const record of HashMap.values((yield* journal.working).records)) {
        if (record.connection === owner) yield* Effect.zipRight(apply("deregistered", record), countDeregistration("connection"))
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
      for (const record of HashMap.values((yield* journal.working).records)) {
        if (record.source === "static" && !wanted.has(record.registration.id)) yield* apply("deregistered", record)
      }
      for (const [id, record] of wanted) {
        const existing = Option.getOrUndefined(HashMap.get((yield* journal.working).records, id))
        if (existing !== undefined && existing.source !== "static") {
          yield* Effect.logWarning(`registry.static endpoint ${id} is ignored: a registered endpoint has that id`)
          continue
        }
        if (existing !== undefined && sameDeclaration(existing, record)) continue
        yield* apply(existing === undefined ? "registered" : "updated", existing === undefined ? record : { ...record, registeredAt: existing.registeredAt })
      }
    }))

  return { register, renewNow, heartbeat, deregister, setCheckStatus, removeConnection, syncStatic }
}
