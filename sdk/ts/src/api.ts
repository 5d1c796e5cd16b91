/** Miko's HTTP API, as the client calls it: each call bounded in time, each failure typed. */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import { describeCause } from "./causes.js"
import { type DirectoryError, InvalidRegistration, MikoForbidden, MikoRequestError, MikoUnauthorized, MikoUnreachable } from "./errors.js"
import { formatDuration, type ResolvedOptions } from "./options.js"
import { decodeEndpoint, decodeEndpointList, decodeErrorEnvelope, type Endpoint, type EndpointList, type EndpointRegistration } from "./wire.js"

export interface MikoApi {
  /** `GET /v1/endpoints`; with an index, a blocking query that waits for a change past it. */
  readonly endpoints: (index: number | undefined) => Effect.Effect<EndpointList, DirectoryError>
  /** `POST /v1/services/{service}/endpoints`; a 400 is an `InvalidRegistration`. */
  readonly register: (service: string, registration: EndpointRegistration, ttl: Duration.Duration) => Effect.Effect<Endpoint, DirectoryError | InvalidRegistration>
  /** `PUT …/{id}/heartbeat`; Miko no longer knowing the endpoint is a `MikoRequestError` with status 404. */
  readonly heartbeat: (service: string, id: string) => Effect.Effect<Endpoint, DirectoryError>
  /** `DELETE …/{id}`; an endpoint already gone counts as deregistered. */
  readonly deregister: (service: string, id: string) => Effect.Effect<void, DirectoryError>
}

const unavailable = (status: number) => status === 502 || status === 503 || status === 504

/**
 * A status and error code of an answer that a caller reads its own way (a `KvForbidden` rather
 * than a `MikoForbidden`); `undefined` leaves the answer to the common mapping.
 */
export type RefineError<E> = (status: number, code: string, message: string) => E | undefined

/** Calls to Miko, each a 2xx response or a typed error, and the decoding of their answers. */
export interface Caller {
  readonly call: <E = never>(
    request: HttpClientRequest.HttpClientRequest,
    timeout: Duration.Duration,
    refine?: RefineError<E>
  ) => Effect.Effect<HttpClientResponse.HttpClientResponse, DirectoryError | E>
  /** The JSON body of a 2xx response, decoded by `decode`. */
  readonly json: <A>(
    response: HttpClientResponse.HttpClientResponse,
    decode: (body: unknown) => Effect.Effect<A, ParseResult.ParseError>,
    what: string
  ) => Effect.Effect<A, MikoRequestError>
}

export const makeCaller = (options: ResolvedOptions, client: HttpClient.HttpClient): Caller => {
  const unreachable = (message: string) =>
    new MikoUnreachable({ address: options.address, message: `Miko at ${options.address} is unreachable: ${message}` })

  const errorFrom = <E>(response: HttpClientResponse.HttpClientResponse, refine: RefineError<E> | undefined): Effect.Effect<never, DirectoryError | E> =>
    Effect.flatMap(Effect.orElseSucceed(response.json, () => undefined), (body): Effect.Effect<never, DirectoryError | E> => {
      const envelope = Option.getOrUndefined(decodeErrorEnvelope(body))
      const code = envelope?.error.code ?? ""
      const message = envelope?.error.message ?? `HTTP ${response.status}`
      const refined = refine?.(response.status, code, message)
      if (refined !== undefined) return Effect.fail(refined)
      if (response.status === 401) return Effect.fail(new MikoUnauthorized({ message: `Miko refused the token: ${message}` }))
      if (response.status === 403) return Effect.fail(new MikoForbidden({ message: `Miko forbids this call: ${message}` }))
      if (unavailable(response.status)) return Effect.fail(unreachable(`answered ${response.status}`))
      return Effect.fail(new MikoRequestError({ status: response.status, code, message }))
    })

  const call = <E = never>(request: HttpClientRequest.HttpClientRequest, timeout: Duration.Duration, refine?: RefineError<E>) =>
    client.execute(options.token === undefined ? request : HttpClientRequest.bearerToken(request, options.token)).pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => unreachable(`no answer within ${Duration.format(timeout)}`) }),
      Effect.catchIf(HttpClientError.isHttpClientError, (error) => Effect.fail(unreachable(describeCause(error.cause ?? error)))),
      Effect.flatMap((response) => (response.status >= 200 && response.status < 300 ? Effect.succeed(response) : errorFrom(response, refine)))
    )

  const invalidAnswer = (what: string) => (error: HttpClientError.ResponseError | ParseResult.ParseError) =>
    new MikoRequestError({ status: 200, code: "invalid_response", message: `unexpected ${what} from Miko: ${error.message}` })

  const json = <A>(
    response: HttpClientResponse.HttpClientResponse,
    decode: (body: unknown) => Effect.Effect<A, ParseResult.ParseError>,
    what: string
  ) => Effect.flatMap(Effect.mapError(response.json, invalidAnswer(what)), (body) => Effect.mapError(decode(body), invalidAnswer(what)))

  return { call, json }
}

export const makeApi = (options: ResolvedOptions, client: HttpClient.HttpClient): MikoApi => {
  const { call, json } = makeCaller(options, client)

  /** A call whose answer is an endpoint. */
  const endpoint = (request: HttpClientRequest.HttpClientRequest, what: string) =>
    Effect.flatMap(call(request, options.timeout), (response) => json(response, decodeEndpoint, what))

  const endpointsPath = (service: string) => `${options.address}/v1/services/${service}/endpoints`

  return {
    endpoints: (index) => {
      // The list is rendered and compressed once per change on Miko's side: asking for gzip costs nothing there.
      let request = HttpClientRequest.get(`${options.address}/v1/endpoints`).pipe(HttpClientRequest.setHeader("accept-encoding", "gzip"))
      for (const service of options.services) request = HttpClientRequest.appendUrlParam(request, "service", service)
      if (index !== undefined) request = HttpClientRequest.appendUrlParams(request, { index: String(index), wait: formatDuration(options.wait) })
      // A blocking query may take the whole wait before it answers.
      const timeout = index === undefined ? options.timeout : Duration.sum(options.wait, options.timeout)
      return Effect.flatMap(call(request, timeout), (response) => json(response, decodeEndpointList, "endpoint list"))
    },
    register: (service, registration, ttl) =>
      endpoint(
        HttpClientRequest.post(endpointsPath(service)).pipe(HttpClientRequest.bodyUnsafeJson({ ...registration, ttl: formatDuration(ttl) })),
        "registration answer"
      ).pipe(
        Effect.catchIf(
          (error): error is MikoRequestError => Predicate.isTagged(error, "MikoRequestError") && error.status === 400,
          (error) => Effect.fail(new InvalidRegistration({ service, message: `Miko rejected the registration: ${error.message}` }))
        )
      ),
    heartbeat: (service, id) => endpoint(HttpClientRequest.put(`${endpointsPath(service)}/${encodeURIComponent(id)}/heartbeat`), "heartbeat answer"),
    deregister: (service, id) =>
      call(HttpClientRequest.del(`${endpointsPath(service)}/${encodeURIComponent(id)}`), options.timeout).pipe(
        Effect.asVoid,
        Effect.catchIf((error) => Predicate.isTagged(error, "MikoRequestError") && error.status === 404, () => Effect.void)
      )
  }
}
