/**
 * Transports. Calls to Miko go through the client's own Node agents, so closing the client closes
 * its connections (long-polls included). Requests to services use the platform's `fetch`, unless
 * TLS settings are given: the platform `fetch` takes no CA or client certificate, so they then go
 * through the client's agents too, with `fetch`'s redirect and decompression behaviour.
 */
import * as PlatformHeaders from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as http from "node:http"
import * as https from "node:https"
import { Readable } from "node:stream"
import type { ReadableStream as NodeReadableStream } from "node:stream/web"
import * as zlib from "node:zlib"
import type { TlsOptions } from "./options.js"

export type Fetch = typeof globalThis.fetch
type Body = NonNullable<RequestInit["body"]>

export interface Transport {
  /** Carries the client's calls to Miko. */
  readonly miko: Fetch
  /** Carries requests to services' endpoints. */
  readonly services: Fetch
}

const nullBodyStatus = new Set([101, 204, 205, 304])
const redirectStatus = new Set([301, 302, 303, 307, 308])
const maxRedirects = 20

const inputUrl = (input: string | URL | Request): string =>
  typeof input === "string" ? input : input instanceof URL ? input.href : input.url

const decoder = (encoding: string | undefined) => {
  switch (encoding?.trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip()
    case "deflate":
      return zlib.createInflate()
    case "br":
      return zlib.createBrotliDecompress()
  }
  return undefined
}

interface Outgoing {
  readonly url: URL
  readonly method: string
  readonly headers: Record<string, string>
  /** Buffered, so a 307/308 can send it again; a stream is sent once. */
  readonly body: Uint8Array | NodeReadableStream<Uint8Array> | undefined
  readonly redirect: NonNullable<RequestInit["redirect"]>
  readonly signal: AbortSignal | undefined
}

type Agents = { readonly http: http.Agent; readonly https: https.Agent }

const send = (agents: Agents, request: Outgoing, redirects: number): Promise<Response> =>
  new Promise<Response>((resolve, reject) => {
    const secure = request.url.protocol === "https:"
    const outgoing = (secure ? https : http).request(request.url, {
      method: request.method,
      headers: request.headers,
      agent: secure ? agents.https : agents.http,
      ...(request.signal === undefined ? {} : { signal: request.signal })
    })
    outgoing.once("error", (error) => reject(request.signal?.aborted === true ? request.signal.reason : new TypeError("fetch failed", { cause: error })))
    outgoing.once("response", (incoming) => {
      const status = incoming.statusCode ?? 502
      const location = incoming.headers.location
      if (redirectStatus.has(status) && location !== undefined && request.redirect !== "manual") {
        incoming.resume()
        if (request.redirect === "error") return reject(new TypeError("fetch failed", { cause: new Error(`redirected to ${location}`) }))
        if (redirects >= maxRedirects) return reject(new TypeError("fetch failed", { cause: new Error("too many redirects") }))
        const url = new URL(location, request.url)
        const asGet = status === 303 ? request.method !== "HEAD" : (status === 301 || status === 302) && request.method === "POST"
        if (!asGet && request.body !== undefined && !(request.body instanceof Uint8Array)) {
          return reject(new TypeError("fetch failed", { cause: new Error("cannot send a streamed body again after a redirect") }))
        }
        const headers = { ...request.headers }
        if (asGet) for (const name of ["content-type", "content-length", "content-encoding", "content-language", "content-location"]) delete headers[name]
        if (url.origin !== request.url.origin) delete headers["authorization"]
        return resolve(send(agents, { ...request, url, headers, method: asGet ? "GET" : request.method, body: asGet ? undefined : request.body }, redirects + 1))
      }
      const headers = new Headers()
      for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2) headers.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!)
      const empty = nullBodyStatus.has(status) || request.method === "HEAD"
      if (empty) incoming.resume()
      const decode = empty ? undefined : decoder(incoming.headers["content-encoding"])
      const source: Readable = decode === undefined ? incoming : incoming.pipe(decode)
      if (decode !== undefined) incoming.once("error", (error) => decode.destroy(error))
      const body = empty ? null : (Readable.toWeb(source) as unknown as ReadableStream<Uint8Array>)
      resolve(new Response(body, { status, statusText: incoming.statusMessage ?? "", headers }))
    })
    if (request.body === undefined) outgoing.end()
    else if (request.body instanceof Uint8Array) outgoing.end(request.body)
    else Readable.fromWeb(request.body).pipe(outgoing)
  })

/** A `fetch` over Node's `http`/`https` with the given agents: keep-alive, and TLS settings for https. */
const nodeFetch = (agents: Agents): Fetch => async (input, init) => {
  // `Request` normalises the method, headers and every kind of body (and checks them as fetch does).
  const request = new Request(inputUrl(input), init === undefined ? undefined : { ...init, signal: null })
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => {
    headers[name] = value
  })
  const streamed = init?.body instanceof ReadableStream
  const body = request.body === null
    ? undefined
    : streamed
    ? (request.body as unknown as NodeReadableStream<Uint8Array>)
    : new Uint8Array(await request.arrayBuffer())
  return send(agents, {
    url: new URL(request.url),
    method: request.method,
    headers,
    body,
    redirect: init?.redirect ?? "follow",
    signal: init?.signal ?? undefined
  }, 0)
}

const agentsFor = (tls: TlsOptions | undefined): Agents => ({
  http: new http.Agent({ keepAlive: true }),
  https: new https.Agent({
    keepAlive: true,
    ...(tls?.ca === undefined ? {} : { ca: typeof tls.ca === "string" || Buffer.isBuffer(tls.ca) ? tls.ca : [...tls.ca] }),
    ...(tls?.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls?.key === undefined ? {} : { key: tls.key }),
    ...(tls?.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
    ...(tls?.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
    ...(tls?.servername === undefined ? {} : { servername: tls.servername })
  })
})

/** The client's transports; its agents, and every connection they hold, are destroyed with the scope. */
export const makeTransport = (tls: TlsOptions | undefined): Effect.Effect<Transport, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(Effect.sync(() => agentsFor(tls)), (agents) =>
      Effect.sync(() => {
        agents.http.destroy()
        agents.https.destroy()
      })),
    (agents) => {
      const own = nodeFetch(agents)
      return { miko: own, services: tls === undefined ? globalThis.fetch : own }
    }
  )

/**
 * An Effect `HttpClient` over a given `fetch`: what `FetchHttpClient` does, with the `fetch` bound
 * here rather than looked up in a context merged into every request (which costs more than the
 * request's own work on loopback).
 */
export const httpClientOf = (fetch: Fetch): HttpClient.HttpClient =>
  HttpClient.make((request, url, signal) => {
    const headers = request.headers["content-length"] === undefined ? request.headers : PlatformHeaders.remove(request.headers, "content-length")
    const send = (body: Body | undefined) => {
      const init: RequestInit & { readonly duplex?: "half" } = {
        method: request.method,
        headers,
        signal,
        ...(body === undefined ? {} : { body }),
        ...(Predicate.isTagged(request.body, "Stream") ? { duplex: "half" } : {})
      }
      return Effect.map(
        Effect.tryPromise({
          try: () => fetch(url, init),
          catch: (cause) => new HttpClientError.RequestError({ request, reason: "Transport", cause })
        }),
        (response) => HttpClientResponse.fromWeb(request, response)
      )
    }
    switch (request.body._tag) {
      case "Raw":
        return send(request.body.body as Body)
      case "Uint8Array":
        return send(request.body.body)
      case "FormData":
        return send(request.body.formData)
      case "Stream":
        return Effect.flatMap(Stream.toReadableStreamEffect(request.body.stream), send)
    }
    return send(undefined)
  })

/**
 * Attempt deadlines without a timer per request: attempts in flight sit in a set, and one fiber
 * sweeps it on a fixed schedule, expiring those past their deadline. An attempt leaves the set
 * when its response headers arrive, so a body is never cut short.
 */
export interface Deadlines {
  /** Arms the deadline of one attempt: `expire` runs once it passes, unless the returned function disarms it first. */
  readonly track: (expire: () => void) => () => void
  /** The error an expired attempt reports: a `TimeoutError`, as `fetch` reports `AbortSignal.timeout`. */
  readonly error: () => DOMException
  /** `fetch` whose attempts are aborted at their deadline (the caller's signal still aborts them too). */
  readonly fetch: (base: Fetch) => Fetch
}

interface Pending {
  readonly deadline: number
  readonly expire: () => void
}

export const makeDeadlines = (timeout: Duration.Duration): Effect.Effect<Deadlines, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const millis = Duration.toMillis(timeout)
    const message = `no response within ${Duration.format(timeout)}`
    const error = () => new DOMException(message, "TimeoutError")
    const pending = new Set<Pending>()
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const attempt of pending) {
        if (attempt.deadline > now) continue
        pending.delete(attempt)
        attempt.expire()
      }
    })
    // The sweep's resolution: a tenth of the timeout, between 10 ms and 250 ms.
    const every = Duration.millis(Math.min(250, Math.max(10, millis / 10)))
    yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(every)))
    const track = (expire: () => void) => {
      const attempt = { deadline: clock.unsafeCurrentTimeMillis() + millis, expire }
      pending.add(attempt)
      return () => {
        pending.delete(attempt)
      }
    }
    return {
      track,
      error,
      fetch: (base) => (input, init) => {
        const controller = new AbortController()
        const parent = init?.signal
        if (parent !== undefined && parent !== null) {
          if (parent.aborted) controller.abort(parent.reason)
          else parent.addEventListener("abort", () => controller.abort(parent.reason), { once: true })
        }
        const disarm = track(() => controller.abort(error()))
        return base(input, { ...init, signal: controller.signal }).finally(disarm)
      }
    }
  })
