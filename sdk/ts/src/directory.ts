/**
 * The cached endpoint list and the choice of an endpoint: pure functions over immutable values.
 * The client keeps these values in Refs and feeds them the clock and randomness.
 */
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import { type HttpTarget, httpTarget } from "./address.js"
import type { AddressKind, Strategy } from "./options.js"
import type { Endpoint, EndpointList } from "./wire.js"

/** An endpoint chosen for a request, with the address this client uses for it. */
export interface PickedEndpoint extends Endpoint {
  readonly address: string
}

/**
 * An endpoint the client may send traffic to: one with an address of the client's kind that is
 * passing or, in panic mode, any such endpoint of a service that has no passing one.
 */
export interface Candidate {
  readonly endpoint: Endpoint
  /** What `pick` answers for it, built once per list. */
  readonly picked: PickedEndpoint
  /** Identifies the endpoint across lists: service and id. */
  readonly key: string
  /** The address the client uses for it. */
  readonly address: string
  readonly target: HttpTarget
}

export interface ServiceEntry {
  /** Every endpoint Miko lists for the service, in Miko's order (passing first, then heavier first). */
  readonly endpoints: ReadonlyArray<Endpoint>
  readonly candidates: ReadonlyArray<Candidate>
  /** No endpoint is passing and the candidates are the others: the service is served in panic mode. */
  readonly panic: boolean
}

/** One endpoint list, prepared for lookups. */
export interface Snapshot {
  readonly index: number
  readonly services: ReadonlyMap<string, ServiceEntry>
  /** The services served in panic mode, sorted. */
  readonly panic: ReadonlyArray<string>
}

export const endpointKey = (endpoint: Endpoint): string => `${endpoint.service}/${endpoint.id}`

/** The address of the client's kind: internal ones fall back to the public address. */
export const addressOf = (endpoint: Endpoint, kind: AddressKind): string | undefined =>
  kind === "internal" ? endpoint.internalAddress ?? endpoint.publicAddress : endpoint.publicAddress

/** The endpoints the client can address, whatever their status, in Miko's order. */
const addressable = (endpoints: ReadonlyArray<Endpoint>, kind: AddressKind): ReadonlyArray<Candidate> => {
  const candidates: Array<Candidate> = []
  for (const endpoint of endpoints) {
    const address = addressOf(endpoint, kind)
    const target = address === undefined ? undefined : httpTarget(address, endpoint.protocol)
    if (address === undefined || target === undefined) continue
    candidates.push({ endpoint, picked: { ...endpoint, address }, key: endpointKey(endpoint), address, target })
  }
  return candidates
}

/**
 * A service's candidates: its passing endpoints. When none passes, and the client is not
 * `strict`, its other endpoints instead (panic mode): when Miko reports no endpoint of a service
 * passing, the fault may lie with the directory's view (checks that cannot reach the fleet, leases
 * that lapsed while Miko was away) rather than with the service, and a request to an endpoint that
 * may well be healthy beats a certain error. The strategy, weights and zones apply to them as they
 * would to passing ones.
 */
const entryFor = (endpoints: ReadonlyArray<Endpoint>, kind: AddressKind, strict: boolean): ServiceEntry => {
  const usable = addressable(endpoints, kind)
  const passing = usable.filter((c) => c.endpoint.status === "passing")
  if (passing.length > 0 || strict || usable.length === 0) return { endpoints, candidates: passing, panic: false }
  return { endpoints, candidates: usable, panic: true }
}

export const buildSnapshot = (list: EndpointList, kind: AddressKind, strict: boolean): Snapshot => {
  const services = new Map<string, ServiceEntry>()
  const panic: Array<string> = []
  for (const [name, endpoints] of Object.entries(list.services)) {
    const entry = entryFor(endpoints, kind, strict)
    services.set(name, entry)
    if (entry.panic) panic.push(name)
  }
  return { index: list.index, services, panic: panic.sort() }
}

/** A circuit-breaker mark: the endpoint failed a request and is skipped until `until`. */
export interface Mark {
  readonly service: string
  readonly id: string
  readonly until: number
  /** The endpoint's `lastSeenAt` when it was marked: news of it since then clears the mark. */
  readonly lastSeenAt: string
}

export type Marks = HashMap.HashMap<string, Mark>

export const mark = (marks: Marks, endpoint: Endpoint, until: number): Marks =>
  HashMap.set(marks, endpointKey(endpoint), { service: endpoint.service, id: endpoint.id, until, lastSeenAt: endpoint.lastSeenAt })

const find = (snapshot: Snapshot | undefined, service: string, id: string) =>
  snapshot?.services.get(service)?.endpoints.find((endpoint) => endpoint.id === id)

/**
 * A new list clears the marks of endpoints it brings news of passing: not passing (or not listed)
 * before and passing now, or heard from by Miko since the mark (a newer `lastSeenAt`). Marks of
 * endpoints that left the list, and marks whose cool-down ended, are dropped.
 */
export const clearMarks = (marks: Marks, previous: Snapshot | undefined, next: Snapshot, now: number): Marks =>
  HashMap.filter(marks, (m) => {
    if (m.until <= now) return false
    const current = find(next, m.service, m.id)
    if (current === undefined) return false
    if (current.status !== "passing") return true
    const before = find(previous, m.service, m.id)
    return before !== undefined && before.status === "passing" && current.lastSeenAt <= m.lastSeenAt
  })

export interface ChooseInput {
  readonly strategy: Strategy
  readonly zone: string | undefined
  readonly marks: Marks
  readonly now: number
  /** Endpoints this request already tried: others are preferred. */
  readonly tried: ReadonlySet<string> | undefined
  /** The service's round-robin counter. */
  readonly turn: number
  /** A number in [0, 1) for the weighted-random strategy. */
  readonly random: number
}

const isUp = (marks: Marks, now: number) => (candidate: Candidate) => {
  const m = HashMap.get(marks, candidate.key)
  return Option.isNone(m) || m.value.until <= now
}

/** Keeps the candidates that pass `keep`, unless that leaves none. */
const prefer = (pool: ReadonlyArray<Candidate>, keep: (candidate: Candidate) => boolean) => {
  const kept = pool.filter(keep)
  return kept.length === 0 ? pool : kept
}

/**
 * Chooses among a service's candidates (its passing endpoints, or in panic mode the others):
 * untried ones first, then those not marked down (when every one is marked down they are tried
 * anyway, rather than failing the request), then those with a weight above 0 (weight 0 drains an
 * endpoint: used only when nothing else is left), then, for `zone-first`, those in the client's
 * zone; among what is left, by the strategy.
 */
export const choose = (entry: ServiceEntry, input: ChooseInput): Candidate | undefined => {
  let pool = entry.candidates
  if (pool.length === 0) return undefined
  if (input.tried !== undefined && input.tried.size > 0) pool = prefer(pool, (c) => !input.tried!.has(c.key))
  if (HashMap.size(input.marks) > 0) pool = prefer(pool, isUp(input.marks, input.now))
  if (pool.some((c) => c.endpoint.weight <= 0)) pool = prefer(pool, (c) => c.endpoint.weight > 0)
  if (input.strategy === "zone-first" && input.zone !== undefined) pool = prefer(pool, (c) => c.endpoint.zone === input.zone)
  if (input.strategy === "weighted-random") {
    const total = pool.reduce((sum, c) => sum + Math.max(0, c.endpoint.weight), 0)
    if (total <= 0) return pool[Math.floor(input.random * pool.length)]
    let point = input.random * total
    for (const candidate of pool) {
      point -= Math.max(0, candidate.endpoint.weight)
      if (point < 0) return candidate
    }
    return pool[pool.length - 1]
  }
  return pool[input.turn % pool.length]
}
