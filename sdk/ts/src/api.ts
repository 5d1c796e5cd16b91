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

export const makeApi = (options: ResolvedOptions, client: HttpClient.HttpClient): MikoApi => {
  const unreachable = (message: string) =>
    new MikoUnreachable({ address: options.address, message: `Miko at ${options.address} is unreachable: ${message}` })

  const errorFrom = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<never, DirectoryError> =>
    Effect.flatMap(Effect.orElseSucceed(response.json, () => undefined), (body): Effect.Effect<never, DirectoryError> => {
      const envelope = Option.getOrUndefined(decodeErrorEnvelope(body))
      const code = envelope?.error.code ?? ""
      const message = envelope?.error.message ?? `HTTP ${response.status}`
      if (response.status === 401) return Effect.fail(new MikoUnauthorized({ message: `Miko refused the token: ${message}` }))
      if (response.status === 403) return Effect.fail(new MikoForbidden({ message: `Miko forbids this call: ${message}` }))
      if (unavailable(response.status)) return Effect.fail(unreachable(`answered ${response.status}`))
      return Effect.fail(new MikoRequestError({ status: response.status, code, message }))
    })

  /** One call: a 2xx response, or a typed error. */
  const call = (request: HttpClientRequest.HttpClientRequest, timeout: Duration.Duration) =>
    client.execute(options.token === undefined ? request : HttpClientRequest.bearerToken(request, options.token)).pipe(
      Effect.timeoutFail({ duration: timeout, onTimeout: () => unreachable(`no answer within ${Duration.format(timeout)}`) }),
      Effect.catchIf(HttpClientError.isHttpClientError, (error) => Effect.fail(unreachable(describeCause(error.cause ?? error)))),
      Effect.flatMap((response) => (response.status >= 200 && response.status < 300 ? Effect.succeed(response) : errorFrom(response)))
    )

  const invalidAnswer = (what: string) => (error: HttpClientError.ResponseError | ParseResult.ParseError) =>
    new MikoRequestError({ status: 200, code: "invalid_response", message: `unexpected ${what} from Miko: ${error.message}` })

  /** A call whose answer is an endpoint. */
  const endpoint = (request: HttpClientRequest.HttpClientRequest, what: string) =>
    call(request, options.timeout).pipe(
      Effect.flatMap((response) => Effect.mapError(response.json, invalidAnswer(what))),
      Effect.flatMap((body) => Effect.mapError(decodeEndpoint(body), invalidAnswer(what)))
    )

  const endpointsPath = (service: string) => `${options.address}/v1/services/${service}/endpoints`

  return {
    endpoints: (index) => {
      // The list is rendered and compressed once per change on Miko's side: asking for gzip costs nothing there.
      let request = HttpClientRequest.get(`${options.address}/v1/endpoints`).pipe(HttpClientRequest.setHeader("accept-encoding", "gzip"))
      for (const service of options.services) request = HttpClientRequest.appendUrlParam(request, "service", service)
      if (index !== undefined) request = HttpClientRequest.appendUrlParams(request, { index: String(index), wait: formatDuration(options.wait) })
      // A blocking query may take the whole wait before it answers.
      const timeout = index === undefined ? options.timeout : Duration.sum(options.wait, options.timeout)
      return call(request, timeout).pipe(
        Effect.flatMap((response) => Effect.mapError(response.json, invalidAnswer("endpoint list"))),
        Effect.flatMap((body) => Effect.mapError(decodeEndpointList(body), invalidAnswer("endpoint list")))
      )
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
