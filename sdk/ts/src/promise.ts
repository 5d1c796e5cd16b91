/**
 * The client without Effect: Promises, and a `fetch` that resolves `http://<service>/path`.
 * It runs the Effect client in its own runtime; `close()` ends it.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { type Internals, layerInternals, MikoInternals, type MikoClientService, type PickedEndpoint } from "./client.js"
import { MikoClientClosed } from "./errors.js"
import { AttemptFailure, type Runner } from "./failover.js"
import { makePromiseConfig, type MikoPromiseConfig } from "./promise-config.js"
import { type DurationOption, type MikoClientOptions, resolveOptions } from "./options.js"
import type { Endpoint, EndpointRegistration } from "./wire.js"

/** A registered endpoint; heartbeats run until `close()`, which deregisters it. */
export interface PromiseRegistration {
  readonly service: string
  readonly id: string
  /** The endpoint as Miko last answered it. */
  readonly endpoint: () => Endpoint
  readonly close: () => Promise<void>
}

/** A `fetch` for one service: `fetch("/users/1")` goes to `http://<service>/users/1`. */
export interface ServiceFetch {
  readonly fetch: (path: string, init?: RequestInit) => Promise<Response>
}

export interface MikoPromiseClient {
  /** Miko's base URL. */
  readonly address: string
  /** Resolves once an endpoint list is at hand; rejects with the first attempt's error otherwise. */
  readonly ready: () => Promise<void>
  readonly services: () => Promise<ReadonlyArray<string>>
  /** Every endpoint Miko lists for the service; rejects with `UnknownService` when it lists none. */
  readonly endpoints: (service: string) => Promise<ReadonlyArray<Endpoint>>
  /**
   * A passing endpoint by the strategy (when none is passing, one of the others, unless `strict`);
   * rejects with `UnknownService` or `NoHealthyEndpoint`.
   */
  readonly pick: (service: string) => Promise<PickedEndpoint>
  /**
   * `fetch`, where `http://<service>/path` goes to a passing endpoint of the service and idempotent
   * requests fail over to another one. Lookup failures reject with the SDK's errors; transport
   * failures with what `fetch` rejects with (a `TimeoutError` `DOMException` for the attempt timeout).
   */
  readonly fetch: (input: string | URL, init?: RequestInit) => Promise<Response>
  /** `fetch` bound to one service. */
  readonly service: (name: string) => ServiceFetch
  /** Registers an endpoint with a lease (default 15s), heartbeats it, and deregisters it on `close()`. */
  readonly register: (service: string, endpoint: EndpointRegistration, ttl?: DurationOption) => Promise<PromiseRegistration>
  /**
   * A local copy of the keys under `prefix` (`"billing/"`) with their values, kept fresh by
   * blocking queries until its `close()` or the client's; reads answer from it synchronously.
   */
  readonly config: (prefix: string) => MikoPromiseConfig
  /** Reports an endpoint that failed outside this client: it is skipped for the cool-down. */
  readonly markDown: (endpoint: Endpoint) => void
  /** True until the first list, and whenever the last refresh failed (answers then come from the last good list). */
  readonly stale: () => boolean
  /** When Miko last confirmed the list. */
  readonly lastUpdated: () => Date | undefined
  /** The services served in panic mode (no passing endpoint, so the others are chosen), sorted; empty with `strict`. */
  readonly panicServices: () => ReadonlyArray<string>
  /** Deregisters the client's registrations and stops all background work. */
  readonly close: () => Promise<void>
}

const rejection = (cause: Cause.Cause<unknown>, signal: AbortSignal | undefined): unknown => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    // A failed request rejects with what fetch rejected with, as fetch would.
    return error instanceof AttemptFailure ? error.cause : error
  }
  if (Cause.isInterruptedOnly(cause)) return signal?.reason ?? new DOMException("The operation was aborted.", "AbortError")
  return Cause.squash(cause)
}

interface Built {
  readonly service: MikoClientService
  readonly internals: Internals
}

/**
 * A client for Miko's address (or `MIKO_ADDRESS`). Throws `InvalidMikoAddress` or
 * `InvalidMikoOptions` at once; the endpoint list is fetched in the background from here on.
 */
export const createClient = (options: MikoClientOptions = {}): MikoPromiseClient => {
  const resolved = Effect.runSync(Effect.either(resolveOptions(options)))
  if (Either.isLeft(resolved)) throw resolved.left
  const runtime = ManagedRuntime.make(layerInternals(resolved.right))
  let built: Built | undefined
  let closing: Promise<void> | undefined
  const registrations = new Set<Scope.CloseableScope>()
  const started = runtime.runPromise(MikoInternals).then((value) => (built = value))
  // Building cannot fail once the options are valid; this only keeps a rejection from going unhandled.
  started.catch(() => undefined)

  const closed = () => Promise.reject(new MikoClientClosed({ message: "the Miko client is closed" }))

  const runWith = <A, E>(f: (client: Built) => Effect.Effect<A, E>, signal?: AbortSignal): Promise<A> => {
    if (closing !== undefined) return closed()
    const go = (client: Built) =>
      runtime.runPromiseExit(f(client), signal === undefined ? undefined : { signal }).then((exit) =>
        Exit.isSuccess(exit) ? exit.value : Promise.reject(rejection(exit.cause, signal)))
    return built === undefined ? started.then(go) : go(built)
  }
  const run = <A, E>(f: (client: MikoClientService) => Effect.Effect<A, E>): Promise<A> => runWith((client) => f(client.service))
  /** Synchronous reads of the client's state; `fallback` before it is built or once it is closed. */
  const peek = <A>(f: (client: MikoClientService) => Effect.Effect<A>, fallback: A): A =>
    built === undefined || closing !== undefined ? fallback : runtime.runSync(f(built.service))

  const fetch = (input: string | URL, init?: RequestInit): Promise<Response> => {
    if (closing !== undefined) return closed()
    const signal = init?.signal ?? undefined
    const runner: Runner = (effect) => runWith(() => effect, signal)
    return built === undefined ? started.then((client) => client.internals.fetchPromise(input, init, runner)) : built.internals.fetchPromise(input, init, runner)
  }

  /** A scope closed by `close()` or with the client, whichever comes first. */
  const openScope = async () => {
    const scope = await runtime.runPromise(Scope.make())
    registrations.add(scope)
    // Closing twice, or after the client closed (which closed it), has nothing left to do.
    const close = (): Promise<void> =>
      registrations.delete(scope) ? runtime.runPromise(Scope.close(scope, Exit.void)) : closing ?? Promise.resolve()
    return { scope, close }
  }

  const register = async (name: string, endpoint: EndpointRegistration, ttl?: DurationOption): Promise<PromiseRegistration> => {
    if (closing !== undefined) return closed()
    const { close, scope } = await openScope()
    const registration = await run((client) => Scope.extend(client.register(name, endpoint, ttl), scope)).catch(async (error: unknown) => {
      await close()
      throw error
    })
    let latest = runtime.runSync(registration.endpoint)
    return {
      service: registration.service,
      id: registration.id,
      endpoint: () => {
        if (closing === undefined && registrations.has(scope)) latest = runtime.runSync(registration.endpoint)
        return latest
      },
      close
    }
  }

  const config = (prefix: string): MikoPromiseConfig => {
    const opened = closing === undefined ? openScope() : closed()
    const view = opened.then(({ scope }) => run((client) => Scope.extend(client.config(prefix), scope)))
    return makePromiseConfig(prefix, {
      runtime,
      view,
      run: (f) => view.then((built) => run(() => f(built))),
      close: () => opened.then(({ close }) => close(), () => undefined)
    })
  }

  return {
    address: resolved.right.address,
    ready: () => run((client) => client.ready),
    services: () => run((client) => client.services),
    endpoints: (name) => run((client) => client.endpoints(name)),
    pick: (name) => run((client) => client.pick(name)),
    fetch,
    service: (name) => ({ fetch: (path, init) => fetch(`http://${name}${path.startsWith("/") ? "" : "/"}${path}`, init) }),
    register,
    config,
    markDown: (endpoint) => peek((client) => client.markDown(endpoint), undefined),
    stale: () => peek((client) => client.stale, true),
    lastUpdated: () => Option.getOrUndefined(peek((client) => client.lastUpdated, Option.none())),
    panicServices: () => peek((client) => client.panicServices, []),
    close: () => {
      closing ??= Promise.all([...registrations].map((scope) => runtime.runPromise(Scope.close(scope, Exit.void))))
        .then(() => runtime.dispose())
      registrations.clear()
      return closing
    }
  }
}
