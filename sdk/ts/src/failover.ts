/**
 * Requests to services with failover: each attempt goes to an endpoint chosen afresh; a failed
 * attempt (transport error, timeout, 502/503/504) marks its endpoint down and, while attempts
 * remain and the request may be sent again, the next attempt goes elsewhere.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import { resolveUrl, type ServiceUrl, serviceUrl } from "./address.js"
import { isRefused } from "./causes.js"
import type { Candidate } from "./directory.js"
import type { PickError } from "./errors.js"
import type { Deadlines, Fetch } from "./transport.js"
import type { Endpoint } from "./wire.js"

/** Methods a request may be sent again with, to another endpoint, after an attempt failed. */
const idempotent: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"])

/** Answers that blame the endpoint (or the proxy in front of it) rather than the request. */
export const unavailable = (status: number) => status === 502 || status === 503 || status === 504

/** One try on one endpoint. `failed`: the endpoint is to blame; `refused`: nothing was sent. */
type Attempt<A, E> =
  | { readonly _tag: "Success"; readonly value: A; readonly failed: boolean }
  | { readonly _tag: "Failure"; readonly error: E; readonly failed: boolean; readonly refused: boolean }

/** A `fetch` request failed on the endpoints tried: `cause` is what `fetch` rejected with (or a `TimeoutError`). */
export class AttemptFailure {
  readonly _tag = "AttemptFailure"
  constructor(readonly cause: unknown) {}
}

export const isAttemptFailure = (error: unknown): error is AttemptFailure => error instanceof AttemptFailure

/** Where attempts go: the client's choice of endpoint and its circuit breaker. */
export interface Chooser {
  /** An endpoint of the service, preferring those this request has not `tried`. */
  readonly choose: (service: string, tried: ReadonlySet<string> | undefined) => Effect.Effect<Candidate, PickError>
  /** The same as a plain function for the first attempt, without waiting: `undefined` while there is no list yet. */
  readonly chooseNow: (service: string) => Candidate | PickError | undefined
  readonly markDown: (endpoint: Endpoint) => Effect.Effect<void>
}

export interface FailoverSettings {
  readonly maxAttempts: number
  readonly attemptTimeout: Duration.Duration | undefined
  /** Enforces `attemptTimeout` on `fetch` attempts; absent when there is no timeout. */
  readonly deadlines: Deadlines | undefined
}

/** A short pause before the next attempt: 10 ms, doubling, at most 1 s. */
const attemptDelay = (attempt: number) => Duration.millis(Math.min(10 * 2 ** (attempt - 1), 1_000))

/** Runs effects for the Promise client (rejecting with what `fetch` or the SDK would). */
export type Runner = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

interface Retry {
  readonly always: boolean
  readonly whenRefused: boolean
}

/** `fetch` attempts on one endpoint, as `Attempt`s: an answer, or why there was none. */
const makeFetchAttempts = (fetchFn: Fetch, deadlines: Deadlines | undefined) => {
  const responded = (value: Response): Attempt<Response, AttemptFailure> => ({ _tag: "Success", value, failed: unavailable(value.status) })
  const threw = (cause: unknown): Attempt<Response, AttemptFailure> => ({ _tag: "Failure", error: new AttemptFailure(cause), failed: true, refused: isRefused(cause) })
  /** The caller cancelled: not the endpoint's fault, and not to be tried elsewhere. */
  const cancelled = (signal: AbortSignal): Attempt<Response, AttemptFailure> => ({ _tag: "Failure", error: new AttemptFailure(signal.reason), failed: false, refused: false })
  const rejected = (init: RequestInit | undefined, cause: unknown) => (init?.signal?.aborted === true ? cancelled(init.signal) : threw(cause))

  /** One `fetch` attempt: interrupting the fiber, the caller's signal and the attempt's deadline abort it. */
  const attemptInterruptible = (url: string, init: RequestInit | undefined) =>
    Effect.async<Attempt<Response, AttemptFailure>>((resume) => {
      const controller = new AbortController()
      const disarm = deadlines?.track(() => controller.abort(deadlines.error()))
      const callerSignal = init?.signal ?? undefined
      // Linking signals is costly: only when the caller brought one.
      const signal = callerSignal === undefined ? controller.signal : AbortSignal.any([controller.signal, callerSignal])
      fetchFn(url, { ...init, signal }).then(
        (response) => {
          disarm?.()
          resume(Effect.succeed(responded(response)))
        },
        (error: unknown) => {
          disarm?.()
          resume(Effect.succeed(rejected(init, error)))
        }
      )
      return Effect.sync(() => {
        disarm?.()
        controller.abort()
      })
    })

  /**
   * One `fetch` attempt that cancels as `fetch` does, through the caller's signal only. It
   * attaches no signal of its own (undici pays for every signal a request carries, more than the
   * rest of the SDK's work): an attempt past its deadline is left behind, and its response, should
   * one still come, is discarded. A plain Promise: the Promise client sends first attempts without
   * entering the Effect runtime.
   */
  const sendDetached = (url: string, init: RequestInit | undefined) =>
    new Promise<Attempt<Response, AttemptFailure>>((resolve) => {
      let settled = false
      const settle = (outcome: Attempt<Response, AttemptFailure>) => {
        if (settled) return false
        settled = true
        disarm?.()
        resolve(outcome)
        return true
      }
      const disarm = deadlines?.track(() => settle(threw(deadlines.error())))
      fetchFn(url, init).then(
        (response) => {
          if (!settle(responded(response))) void response.body?.cancel().catch(() => undefined)
        },
        (error: unknown) => settle(rejected(init, error))
      )
    })

  return { attemptInterruptible, sendDetached }
}

export const makeFailover = (chooser: Chooser, settings: FailoverSettings, fetchFn: Fetch) => {
  const finish = <A, E>(result: Attempt<A, E>): Effect.Effect<A, E> =>
    Predicate.isTagged(result, "Success") ? Effect.succeed(result.value) : Effect.fail(result.error)

  /** Attempt after attempt, from the `attempt`-th, each on an endpoint chosen afresh. */
  const loop = <A, E, R>(
    service: string,
    retry: Retry,
    send: (candidate: Candidate) => Effect.Effect<Attempt<A, E>, never, R>,
    discard: (value: A) => Effect.Effect<void>,
    attempt: number,
    tried: ReadonlySet<string> | undefined
  ): Effect.Effect<A, E | PickError, R> =>
    Effect.flatMap(chooser.choose(service, tried), (candidate) =>
      Effect.flatMap(send(candidate), (result) => decide(service, retry, send, discard, attempt, tried, candidate, result)))

  /** After an attempt: its outcome, or (when it failed and may be repeated) the next attempt elsewhere. */
  const decide = <A, E, R>(
    service: string,
    retry: Retry,
    send: (candidate: Candidate) => Effect.Effect<Attempt<A, E>, never, R>,
    discard: (value: A) => Effect.Effect<void>,
    attempt: number,
    tried: ReadonlySet<string> | undefined,
    candidate: Candidate,
    result: Attempt<A, E>
  ): Effect.Effect<A, E | PickError, R> => {
    if (!result.failed) return finish(result)
    const again = attempt < settings.maxAttempts && (retry.always || (retry.whenRefused && Predicate.isTagged(result, "Failure") && result.refused))
    const marked = chooser.markDown(candidate.endpoint)
    if (!again) return Effect.zipRight(marked, finish(result))
    return marked.pipe(
      Effect.zipRight(Predicate.isTagged(result, "Success") ? discard(result.value) : Effect.void),
      Effect.zipRight(Effect.sleep(attemptDelay(attempt))),
      Effect.zipRight(loop(service, retry, send, discard, attempt + 1, new Set([...(tried ?? []), candidate.key])))
    )
  }

  const run = <A, E, R>(
    service: string,
    retry: Retry,
    send: (candidate: Candidate) => Effect.Effect<Attempt<A, E>, never, R>,
    discard: (value: A) => Effect.Effect<void>
  ): Effect.Effect<A, E | PickError, R> => loop(service, retry, send, discard, 1, undefined)

  /**
   * Whether a request may go to another endpoint after a failed attempt: an idempotent method, or
   * an `Idempotency-Key` header, and a body that can be sent twice (not a stream); any replayable
   * request once the connection was refused.
   */
  const retryFor = (method: string, replayable: boolean, idempotencyKey: () => boolean) => ({
    always: replayable && (idempotent.has(method) || idempotencyKey()),
    whenRefused: replayable
  })

  const timeoutMessage = settings.attemptTimeout === undefined ? "" : `no response within ${Duration.format(settings.attemptTimeout)}`

  const isTransportError = (error: unknown): error is HttpClientError.RequestError =>
    HttpClientError.isHttpClientError(error) && Predicate.isTagged(error, "RequestError") && error.reason === "Transport"

  /**
   * Resolution and failover for an `HttpClient`. `timed`: whether attempts need a timeout around
   * them (the client's own `HttpClient` enforces it in its `fetch`, at less cost).
   */
  const httpClient = <E, R>(self: HttpClient.HttpClient.With<E, R>, timed: boolean) => {
    const send = (request: HttpClientRequest.HttpClientRequest, url: ServiceUrl) =>
    (candidate: Candidate): Effect.Effect<Attempt<HttpClientResponse.HttpClientResponse, E | HttpClientError.RequestError>, never, R> => {
      const target = HttpClientRequest.setUrl(request, resolveUrl(candidate.target, url))
      const sent = settings.attemptTimeout === undefined || !timed
        ? self.execute(target)
        : Effect.timeoutFail(self.execute(target), {
          duration: settings.attemptTimeout,
          onTimeout: () => new HttpClientError.RequestError({ request: target, reason: "Transport", description: timeoutMessage })
        })
      return Effect.match(sent, {
        onSuccess: (value) => ({ _tag: "Success", value, failed: unavailable(value.status) }),
        onFailure: (error) => ({ _tag: "Failure", error, failed: isTransportError(error), refused: isTransportError(error) && isRefused(error.cause) })
      })
    }
    const discard = (response: HttpClientResponse.HttpClientResponse) => Effect.ignore(Effect.timeout(response.arrayBuffer, Duration.seconds(1)))
    return HttpClient.makeWith(
      (requests: Effect.Effect<HttpClientRequest.HttpClientRequest>) =>
        Effect.flatMap(requests, (request): Effect.Effect<HttpClientResponse.HttpClientResponse, E | HttpClientError.RequestError | PickError, R> => {
          const url = serviceUrl(request.url)
          if (url === undefined) return self.execute(request)
          const keyed = () => request.headers["idempotency-key"] !== undefined
          return run(url.service, retryFor(request.method, !Predicate.isTagged(request.body, "Stream"), keyed), send(request, url), discard)
        }),
      Effect.succeed
    )
  }

  const { attemptInterruptible, sendDetached } = makeFetchAttempts(fetchFn, settings.deadlines)

  const attemptDetached = (url: string, init: RequestInit | undefined) => Effect.promise(() => sendDetached(url, init))

  const discardResponse = (response: Response) => Effect.promise(() => response.body?.cancel().catch(() => undefined) ?? Promise.resolve())

  const retryForInit = (init: RequestInit | undefined) =>
    retryFor(
      init?.method === undefined ? "GET" : init.method.toUpperCase(),
      !(init?.body instanceof ReadableStream),
      () => init?.headers !== undefined && new Headers(init.headers).has("idempotency-key")
    )

  const fetchWith = (attempt: (url: string, init: RequestInit | undefined) => Effect.Effect<Attempt<Response, AttemptFailure>>) =>
  (input: string | URL, init?: RequestInit): Effect.Effect<Response, AttemptFailure | PickError> => {
    const href = typeof input === "string" ? input : input.href
    const url = serviceUrl(href)
    if (url === undefined) return Effect.flatMap(attempt(href, init), finish)
    return run(url.service, retryForInit(init), (candidate) => attempt(resolveUrl(candidate.target, url), init), discardResponse)
  }

  const settled = (result: Attempt<Response, AttemptFailure>): Response | Promise<never> =>
    Predicate.isTagged(result, "Success") ? result.value : Promise.reject(result.error.cause)

  /**
   * The Promise client's `fetch`. The common case stays out of the Effect runtime (a fiber per
   * request costs more than the rest of the SDK's work): the endpoint is chosen by a plain
   * function, the first attempt is a plain Promise, and only a failed attempt (or a lookup before
   * the first list) continues as an Effect, run by `runEffect`.
   */
  const fetchPromise = (input: string | URL, init: RequestInit | undefined, runEffect: Runner): Promise<Response> => {
    const href = typeof input === "string" ? input : input.href
    const url = serviceUrl(href)
    if (url === undefined) return sendDetached(href, init).then(settled)
    const chosen = chooser.chooseNow(url.service)
    if (chosen === undefined) return runEffect(fetchWith(attemptDetached)(input, init))
    if ("_tag" in chosen) return Promise.reject(chosen)
    return sendDetached(resolveUrl(chosen.target, url), init).then((result) => {
      if (!result.failed) return settled(result)
      const send = (next: Candidate) => attemptDetached(resolveUrl(next.target, url), init)
      return runEffect(decide(url.service, retryForInit(init), send, discardResponse, 1, undefined, chosen, result))
    })
  }

  return {
    /** Resolution and failover for any `HttpClient`. */
    httpClient,
    /** `fetch` with resolution and failover, cancelled by interruption (and the caller's signal). */
    fetch: fetchWith(attemptInterruptible),
    /** `fetch` with resolution and failover for the Promise client, cancelled by the caller's signal. */
    fetchPromise
  }
}
