/**
 * The Effect client: the endpoint list, cached and kept fresh by a long-poll; the choice of an
 * endpoint with a circuit breaker; an `HttpClient` (and a `fetch`) that resolve
 * `http://<service>/path` and fail over; and self-registration as a scoped resource.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Random from "effect/Random"
import * as MutableRef from "effect/MutableRef"
import type * as Scope from "effect/Scope"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { makeApi } from "./api.js"
import { describeCause } from "./causes.js"
import { buildSnapshot, type Candidate, choose, clearMarks, mark, type Marks, type PickedEndpoint, type ServiceEntry, type Snapshot } from "./directory.js"
import {
  type DirectoryError,
  type InvalidMikoAddress,
  type InvalidMikoOptions,
  type LookupError,
  MikoUnreachable,
  NoHealthyEndpoint,
  type PickError,
  type RegisterError,
  RequestFailed,
  UnknownService
} from "./errors.js"
import { isAttemptFailure, makeFailover, type Runner } from "./failover.js"
import { currentOf, type Followed, keepFollowing, nothingYet } from "./follow.js"
import { makeKvApi } from "./kv-api.js"
import { makeConfig, type MikoConfig } from "./kv-config.js"
import { type DurationOption, type MikoClientOptions, resolveOptions, type ResolvedOptions } from "./options.js"
import { register, type Registration } from "./registration.js"
import { type Fetch, httpClientOf, makeDeadlines, makeTransport } from "./transport.js"
import type { Endpoint, EndpointRegistration } from "./wire.js"

export type { PickedEndpoint } from "./directory.js"
export type { Registration } from "./registration.js"

/** What resolving a service URL can fail with, besides the transport. */
export type ResolveError = PickError

export interface MikoClientService {
  /** Miko's base URL. */
  readonly address: string
  /** Succeeds once an endpoint list is at hand; fails with the first attempt's error otherwise. */
  readonly ready: Effect.Effect<void, DirectoryError>
  /** The services in the list. */
  readonly services: Effect.Effect<ReadonlyArray<string>, DirectoryError>
  /** Every endpoint Miko lists for the service (any status), passing first, heavier first. */
  readonly endpoints: (service: string) => Effect.Effect<ReadonlyArray<Endpoint>, LookupError>
  /**
   * A passing endpoint, chosen by the strategy, skipping endpoints marked down. When none is
   * passing, one of the others (panic mode), unless the client is `strict`.
   */
  readonly pick: (service: string) => Effect.Effect<PickedEndpoint, PickError>
  /** Reports an endpoint that failed outside this client: it is skipped for the cool-down. */
  readonly markDown: (endpoint: Endpoint) => Effect.Effect<void>
  /** True when the last attempt to refresh the list failed: answers come from the last good list. */
  readonly stale: Effect.Effect<boolean>
  /** When Miko last confirmed the list. */
  readonly lastUpdated: Effect.Effect<Option.Option<Date>>
  /** The change index of the list at hand. */
  readonly index: Effect.Effect<Option.Option<number>>
  /**
   * The services served in panic mode (sorted): none of their endpoints is passing, so `pick` and
   * requests choose among the others. Always empty with `strict`, which fails them instead.
   */
  readonly panicServices: Effect.Effect<ReadonlyArray<string>>
  /** An `HttpClient` that sends `http://<service>/path` to the service's endpoints, with failover. Other URLs pass through. */
  readonly http: HttpClient.HttpClient.With<HttpClientError.HttpClientError | ResolveError>
  /** Gives any `HttpClient` the same resolution and failover. */
  readonly withFailover: <E, R>(client: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<E | HttpClientError.RequestError | ResolveError, R>
  /** `fetch` with resolution and failover; the cause of a `RequestFailed` is what `fetch` rejected with. */
  readonly fetch: (input: string | URL, init?: RequestInit) => Effect.Effect<Response, RequestFailed | ResolveError>
  /**
   * Registers an endpoint of `service` with a lease of `ttl` (default 15s), heartbeats it every
   * ttl/3 (registering it again when Miko forgot it), and deregisters it when the scope closes.
   */
  readonly register: (
    service: string,
    endpoint: EndpointRegistration,
    ttl?: DurationOption
  ) => Effect.Effect<Registration, RegisterError, Scope.Scope>
  /**
   * A local copy of the keys under `prefix` (`"billing/"`) with their values, kept fresh by
   * blocking queries until the scope closes; see `MikoConfig`.
   */
  readonly config: (prefix: string) => Effect.Effect<MikoConfig, never, Scope.Scope>
}

type DirectoryState = Followed<Snapshot, DirectoryError>

/** The breaker's marks and the round-robin counters: read and advanced together on every choice. */
interface Picker {
  readonly marks: Marks
  readonly turns: HashMap.HashMap<string, number>
}

/**
 * What the client sends through: Miko's API, and the services' endpoints. Without `http`, the
 * client's `HttpClient` is built over `fetch`; with it (an `HttpClient` from the caller), each
 * attempt's timeout is enforced around it instead.
 */
export interface ClientTransport {
  readonly miko: HttpClient.HttpClient
  readonly fetch: Fetch
  readonly http?: HttpClient.HttpClient | undefined
}

/** What the Promise client needs beyond the service. */
export interface Internals {
  /** `fetch` with resolution and failover, cancelled through `init.signal`; rejects as `fetch` does, or with a lookup error. */
  readonly fetchPromise: (input: string | URL, init: RequestInit | undefined, runner: Runner) => Promise<Response>
}

/**
 * Entering and leaving panic mode, once per change rather than per request: at debug level,
 * as the refresh failures are (background work stays quiet; `panicServices` is the way to
 * watch it).
 */
const logPanicChanges = (before: Snapshot | undefined, after: Snapshot) => {
  const previous = new Set(before?.panic ?? [])
  const current = new Set(after.panic)
  const entered = after.panic.filter((name) => !previous.has(name))
  const left = [...previous].filter((name) => !current.has(name))
  return Effect.zipRight(
    entered.length === 0 ? Effect.void : Effect.logDebug(`no passing endpoint, choosing among the others (panic mode): ${entered.join(", ")}`),
    left.length === 0 ? Effect.void : Effect.logDebug(`panic mode over: ${left.join(", ")}`)
  )
}

/** Why a lookup found nothing to choose: the service's statuses, or the address its endpoints lack. */
const noHealthyEndpoint = (options: ResolvedOptions, service: string, entry: ServiceEntry) => {
  const passing = entry.endpoints.filter((e) => e.status === "passing").length
  const statuses = `its ${entry.endpoints.length} endpoints are ${[...new Set(entry.endpoints.map((e) => e.status))].join(" or ")}`
  // Without `strict` a service with no passing endpoint is served in panic mode: it gets here
  // only when none of its endpoints has an address the client can use.
  const detail = passing > 0
    ? `none of its ${passing} passing endpoints has a ${options.addressKind} address`
    : options.strict
    ? statuses
    : `${statuses} and none has a ${options.addressKind} address`
  return new NoHealthyEndpoint({ service, message: `service ${JSON.stringify(service)} has no healthy endpoint: ${detail}` })
}

const unknownService = (service: string) => new UnknownService({ service, message: `no service ${JSON.stringify(service)} in Miko's list` })

/** Choosing an endpoint from the list at hand: the strategy, the round-robin turns and the circuit breaker's marks. */
const makeChooser = (options: ResolvedOptions, cells: {
  readonly latest: MutableRef.MutableRef<Snapshot | undefined>
  readonly picker: MutableRef.MutableRef<Picker>
  readonly entryOf: (service: string) => Effect.Effect<ServiceEntry, LookupError>
}) => {
  const { entryOf, latest, picker } = cells
  const cooldownMillis = Duration.toMillis(options.cooldown)

  /** One choice among the entry's candidates, advancing the service's round-robin turn. Synchronous. */
  const chooseSync = (service: string, entry: ServiceEntry, tried: ReadonlySet<string> | undefined, now: number, random: number) => {
    const p = MutableRef.get(picker)
    const turn = Option.getOrElse(HashMap.get(p.turns, service), () => 0)
    const chosen = choose(entry, { strategy: options.strategy, zone: options.zone, marks: p.marks, now, tried, turn, random })
    if (options.strategy !== "weighted-random") {
      MutableRef.set(picker, { marks: p.marks, turns: HashMap.set(p.turns, service, (turn + 1) % Number.MAX_SAFE_INTEGER) })
    }
    return chosen ?? noHealthyEndpoint(options, service, entry)
  }

  const chooseIn = (service: string, entry: ServiceEntry, tried: ReadonlySet<string> | undefined, random: number) =>
    Effect.clockWith((clock): Effect.Effect<Candidate, NoHealthyEndpoint> => {
      if (entry.candidates.length === 0) return Effect.fail(noHealthyEndpoint(options, service, entry))
      const chosen = chooseSync(service, entry, tried, clock.unsafeCurrentTimeMillis(), random)
      return chosen instanceof NoHealthyEndpoint ? Effect.fail(chosen) : Effect.succeed(chosen)
    })

  const chooseFor = (service: string, tried: ReadonlySet<string> | undefined): Effect.Effect<Candidate, PickError> => {
    if (options.strategy === "weighted-random") {
      return Effect.flatMap(entryOf(service), (entry) => Effect.flatMap(Random.next, (random) => chooseIn(service, entry, tried, random)))
    }
    // The common case in as few steps as it takes: on every request.
    return Effect.suspend(() => {
      const snapshot = MutableRef.get(latest)
      if (snapshot === undefined) return Effect.flatMap(entryOf(service), (entry) => chooseIn(service, entry, tried, 0))
      const entry = snapshot.services.get(service)
      return entry === undefined ? Effect.fail(unknownService(service)) : chooseIn(service, entry, tried, 0)
    })
  }

  /**
   * The same choice as a plain function, for the Promise client's fast path: `undefined` while
   * there is no list yet (the caller then takes the Effect path, which waits for it).
   */
  const chooseNow = (service: string): Candidate | UnknownService | NoHealthyEndpoint | undefined => {
    const snapshot = MutableRef.get(latest)
    if (snapshot === undefined) return undefined
    const entry = snapshot.services.get(service)
    if (entry === undefined) return unknownService(service)
    if (entry.candidates.length === 0) return noHealthyEndpoint(options, service, entry)
    return chooseSync(service, entry, undefined, Date.now(), Math.random())
  }

  const markDown = (endpoint: Endpoint) =>
    cooldownMillis <= 0
      ? Effect.void
      : Effect.clockWith((clock) =>
        Effect.sync(() =>
          MutableRef.update(picker, (p) => ({ ...p, marks: mark(p.marks, endpoint, clock.unsafeCurrentTimeMillis() + cooldownMillis) }))
        )
      )

  return { chooseFor, chooseNow, markDown }
}

/** Builds the client from checked options and its transports. */
export const make = (options: ResolvedOptions, transport: ClientTransport): Effect.Effect<MikoClientService, never, Scope.Scope> =>
  Effect.map(makeWithInternals(options, transport), ({ service }) => service)

const makeWithInternals = (
  options: ResolvedOptions,
  transport: ClientTransport
): Effect.Effect<{ readonly service: MikoClientService; readonly internals: Internals }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const api = makeApi(options, transport.miko)
    const kvApi = makeKvApi(options, transport.miko)
    const state = yield* SubscriptionRef.make<DirectoryState>(nothingYet())
    // The list at hand and the picker are read (and the picker advanced) on every request, by the
    // Promise client too, outside the runtime: mutable cells with synchronous access. `state` is the
    // list as Effect code follows it (waiting for the first one, watching staleness).
    const latest = MutableRef.make<Snapshot | undefined>(undefined)
    const picker = MutableRef.make<Picker>({ marks: HashMap.empty(), turns: HashMap.empty() })
    const unreachable = (message: string) =>
      new MikoUnreachable({ address: options.address, message: `Miko at ${options.address} is unreachable: ${message}` })

    // ---- The cached list, kept fresh in the background

    /**
     * One read of the list (a blocking query once there is an index); true when it brought
     * nothing new. After a failed read it does not block: Miko may be a new process with nothing
     * new to say, and its first answer is what ends the staleness.
     */
    const refresh = Effect.gen(function*() {
      const before = yield* SubscriptionRef.get(state)
      const list = yield* api.endpoints(before.error === undefined ? before.snapshot?.index : undefined).pipe(
        Effect.tapError((error) => SubscriptionRef.update(state, (s) => ({ ...s, error, attempted: true })))
      )
      const now = yield* Clock.currentTimeMillis
      if (before.snapshot !== undefined && list.index === before.snapshot.index) {
        // The wait ended with nothing new: the list at hand is confirmed.
        yield* SubscriptionRef.update(state, (s) => ({ ...s, error: undefined, attempted: true, updatedAt: now }))
        return true
      }
      // A new index, or a lower one after Miko's store was reset: either way, this list is the truth now.
      const snapshot = buildSnapshot(list, options.addressKind, options.strict)
      yield* logPanicChanges(before.snapshot, snapshot)
      yield* Effect.sync(() => {
        MutableRef.update(picker, (p) => ({ ...p, marks: clearMarks(p.marks, before.snapshot, snapshot, now) }))
        MutableRef.set(latest, snapshot)
      })
      yield* SubscriptionRef.set(state, { snapshot, error: undefined, attempted: true, updatedAt: now })
      return false
    })

    yield* keepFollowing(options, refresh, "endpoint list")

    /** The list at hand; before the first one, waits for the first attempt to end. */
    const current = currentOf(state, unreachable)

    const entryOf = (service: string): Effect.Effect<ServiceEntry, LookupError> =>
      Effect.flatMap(current, (snapshot) => {
        const entry = snapshot.services.get(service)
        return entry === undefined ? Effect.fail(unknownService(service)) : Effect.succeed(entry)
      })

    const { chooseFor, chooseNow, markDown } = makeChooser(options, { latest, picker, entryOf })

    // ---- Requests to services

    const deadlines = options.attemptTimeout === undefined ? undefined : yield* makeDeadlines(options.attemptTimeout)
    const failover = makeFailover(
      { choose: chooseFor, chooseNow, markDown },
      { maxAttempts: options.maxAttempts, attemptTimeout: options.attemptTimeout, deadlines },
      transport.fetch
    )
    // The client's own HttpClient enforces attempt deadlines in its fetch; one given by the caller gets a timeout around each attempt.
    const http = transport.http === undefined
      ? failover.httpClient(httpClientOf(deadlines === undefined ? transport.fetch : deadlines.fetch(transport.fetch)), false)
      : failover.httpClient(transport.http, true)

    const fetch = (input: string | URL, init?: RequestInit): Effect.Effect<Response, RequestFailed | ResolveError> =>
      failover.fetch(input, init).pipe(
        Effect.catchIf(isAttemptFailure, ({ cause }) => {
          const href = typeof input === "string" ? input : input.href
          return Effect.fail(new RequestFailed({ url: href, message: `${init?.method ?? "GET"} ${href} failed: ${describeCause(cause)}`, cause }))
        })
      )

    const service: MikoClientService = {
      address: options.address,
      ready: Effect.asVoid(current),
      services: Effect.map(current, (snapshot) => [...snapshot.services.keys()]),
      endpoints: (name) => Effect.map(entryOf(name), (entry) => entry.endpoints),
      pick: (name) => Effect.map(chooseFor(name, undefined), (candidate) => candidate.picked),
      markDown,
      stale: Effect.map(SubscriptionRef.get(state), (s) => s.snapshot === undefined || s.error !== undefined),
      lastUpdated: Effect.map(SubscriptionRef.get(state), (s) => Option.map(Option.fromNullable(s.updatedAt), (at) => new Date(at))),
      index: Effect.map(SubscriptionRef.get(state), (s) => Option.map(Option.fromNullable(s.snapshot), (snapshot) => snapshot.index)),
      panicServices: Effect.sync(() => MutableRef.get(latest)?.panic ?? []),
      http,
      withFailover: (client) => failover.httpClient(client, true),
      fetch,
      register: register(api),
      config: (prefix) => makeConfig(options, kvApi, prefix)
    }
    return { service, internals: { fetchPromise: failover.fetchPromise } }
  })

const pickErrorTags: ReadonlySet<string> = new Set([
  "MikoUnreachable",
  "MikoUnauthorized",
  "MikoForbidden",
  "MikoRequestError",
  "UnknownService",
  "NoHealthyEndpoint"
])

/** Whether an error is one of the SDK's lookup errors (`ResolveError`). */
export const isPickError = (error: unknown): error is PickError =>
  Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) && pickErrorTags.has(error._tag)

const buildOwn = (options: ResolvedOptions) =>
  Effect.gen(function*() {
    const transport = yield* makeTransport(options.tls)
    return yield* makeWithInternals(options, { miko: httpClientOf(transport.miko), fetch: transport.services })
  })

/** The client built from checked options, with its own transport (TLS settings applied). */
export const layerResolved = (options: ResolvedOptions): Layer.Layer<MikoClient> =>
  Layer.scoped(MikoClient, Effect.map(buildOwn(options), ({ service }) => service))

/** The Promise client's view: the service and its internals. */
export class MikoInternals extends Context.Tag("miko/sdk/MikoInternals")<MikoInternals, {
  readonly service: MikoClientService
  readonly internals: Internals
}>() {}

export const layerInternals = (options: ResolvedOptions): Layer.Layer<MikoInternals> => Layer.scoped(MikoInternals, buildOwn(options))

/** The Miko client as an Effect service. */
export class MikoClient extends Context.Tag("miko/sdk/MikoClient")<MikoClient, MikoClientService>() {
  /**
   * The client with its own transports: its own keep-alive connections to Miko (closed with the
   * layer), and the platform's `fetch` to services (its own connections there too when `tls` is set).
   */
  static readonly layer = (options: MikoClientOptions = {}): Layer.Layer<MikoClient, InvalidMikoAddress | InvalidMikoOptions> =>
    Layer.unwrapEffect(Effect.map(resolveOptions(options), layerResolved))

  /** The client over the `HttpClient` in context, for Miko's API and for `http`; `fetch` uses the platform's (or its own with `tls`). */
  static readonly layerWithHttpClient = (
    options: MikoClientOptions = {}
  ): Layer.Layer<MikoClient, InvalidMikoAddress | InvalidMikoOptions, HttpClient.HttpClient> =>
    Layer.scoped(
      MikoClient,
      Effect.gen(function*() {
        const resolved = yield* resolveOptions(options)
        const client = yield* HttpClient.HttpClient
        const transport = yield* makeTransport(resolved.tls)
        return yield* make(resolved, { miko: client, http: client, fetch: transport.services })
      })
    )

  /**
   * Replaces the `HttpClient` in context with the client's resolving one: `http://<service>/path`
   * goes to the service with failover; a lookup error arrives as a `RequestError` (reason
   * `Transport`) whose `cause` is the SDK error.
   */
  static readonly layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, MikoClient> = Layer.effect(
    HttpClient.HttpClient,
    Effect.map(MikoClient, (client) =>
      HttpClient.makeWith(
        (requests: Effect.Effect<HttpClientRequest.HttpClientRequest>) =>
          Effect.flatMap(requests, (request) =>
            Effect.mapError(client.http.execute(request), (error) =>
              isPickError(error) ? new HttpClientError.RequestError({ request, reason: "Transport", cause: error, description: error.message }) : error)),
        Effect.succeed
      ))
  )

  static readonly ready: Effect.Effect<void, DirectoryError, MikoClient> = Effect.flatMap(MikoClient, (client) => client.ready)
  static readonly services: Effect.Effect<ReadonlyArray<string>, DirectoryError, MikoClient> = Effect.flatMap(MikoClient, (client) => client.services)
  static readonly stale: Effect.Effect<boolean, never, MikoClient> = Effect.flatMap(MikoClient, (client) => client.stale)
  static readonly lastUpdated: Effect.Effect<Option.Option<Date>, never, MikoClient> = Effect.flatMap(MikoClient, (client) => client.lastUpdated)
  static readonly panicServices: Effect.Effect<ReadonlyArray<string>, never, MikoClient> = Effect.flatMap(MikoClient, (client) => client.panicServices)

  static readonly endpoints = (service: string): Effect.Effect<ReadonlyArray<Endpoint>, LookupError, MikoClient> =>
    Effect.flatMap(MikoClient, (client) => client.endpoints(service))

  static readonly pick = (service: string): Effect.Effect<PickedEndpoint, PickError, MikoClient> =>
    Effect.flatMap(MikoClient, (client) => client.pick(service))

  static readonly register = (
    service: string,
    endpoint: EndpointRegistration,
    ttl?: DurationOption
  ): Effect.Effect<Registration, RegisterError, MikoClient | Scope.Scope> =>
    Effect.flatMap(MikoClient, (client) => client.register(service, endpoint, ttl))

  static readonly config = (prefix: string): Effect.Effect<MikoConfig, never, MikoClient | Scope.Scope> =>
    Effect.flatMap(MikoClient, (client) => client.config(prefix))

  /** The resolving `HttpClient`. */
  static readonly httpClient: Effect.Effect<HttpClient.HttpClient.With<HttpClientError.HttpClientError | ResolveError>, never, MikoClient> =
    Effect.map(MikoClient, (client) => client.http)

  /** The resolving `HttpClient` for one service: request URLs are paths (`/users/1`). */
  static readonly httpClientFor = (
    service: string
  ): Effect.Effect<HttpClient.HttpClient.With<HttpClientError.HttpClientError | ResolveError>, never, MikoClient> =>
    Effect.map(MikoClient, (client) => client.http.pipe(HttpClient.mapRequest(HttpClientRequest.prependUrl(`http://${service}`))))

  /** Gives `client` the resolution and failover of the Miko client. */
  static readonly withFailover = <E, R>(
    client: HttpClient.HttpClient.With<E, R>
  ): Effect.Effect<HttpClient.HttpClient.With<E | HttpClientError.RequestError | ResolveError, R>, never, MikoClient> =>
    Effect.map(MikoClient, (miko) => miko.withFailover(client))
}
