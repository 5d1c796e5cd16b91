import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { MikoApi } from "../http/api.js"
import { ErrorEnvelope } from "../shared/api-error.js"
import { describeParseError } from "../shared/parse-error.js"
import { CliError, kindOfStatus } from "./errors.js"
import type { Target } from "./target.js"

/** An answer that does not match the API this CLI was built with: Miko is another version, or broken. */
export class UnexpectedAnswer extends Data.TaggedError("UnexpectedAnswer")<{ readonly detail: string }> {}

const formatIssues = (error: ParseResult.ParseError): string => describeParseError(error)

/**
 * The typed client builds URLs by filling in `:name` parameters; a route that ends in a wildcard
 * (`/v1/kv/*`, whose keys contain slashes) keeps its `*`, which `rest` replaces.
 */
const fillWildcard = (rest: string | undefined) => (request: HttpClientRequest.HttpClientRequest) =>
  rest === undefined ? request : HttpClientRequest.setUrl(request, request.url.replace(/\/\*$/, `/${rest}`))

const makeClient = (target: Target, rest?: string) =>
  HttpApiClient.make(MikoApi, {
    baseUrl: target.address,
    transformClient: (client) =>
      client.pipe(
        HttpClient.mapRequest(fillWildcard(rest)),
        HttpClient.mapRequest((request) =>
          Option.match(target.token, {
            onNone: () => HttpClientRequest.acceptJson(request),
            onSome: (token) => HttpClientRequest.bearerToken(HttpClientRequest.acceptJson(request), token)
          })
        ),
        // Miko answers every failure as `{"error": {"code", "message"}}`, not in the fields of the
        // error classes the API declares (and a 400 may come from the server's own request
        // decoding): stop at the status, and `failureOf` reads the envelope.
        HttpClient.filterStatusOk
      ),
    // Only the decoding of an answer passes through here, so its schema errors are told apart
    // from those of encoding a request, which are about what the person typed.
    transformResponse: (effect) =>
      Effect.catchIf(effect, ParseResult.isParseError, (error) => Effect.fail(new UnexpectedAnswer({ detail: formatIssues(error) })))
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** The typed client of the whole `MikoApi`. */
export type MikoClient = Effect.Effect.Success<ReturnType<typeof makeClient>>

/** Whatever a call of the typed client can fail with, including `UnexpectedAnswer` from `transformResponse`. */
export type CallError =
  | HttpClientError.HttpClientError
  | ParseResult.ParseError
  | UnexpectedAnswer
  | { readonly _tag: string; readonly message: string }

const describeCause = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  if (code === "ECONNREFUSED") return "connection refused"
  if (code === "ENOTFOUND") return "host not found"
  return cause instanceof Error ? cause.message : String(cause)
}

const hints: Partial<Record<number, string>> = {
  401: " (set --token or MIKO_TOKEN, or run on the host whose data dir holds admin-token)",
  403: " (the token lacks the role this needs)"
}

const decodeEnvelope = Schema.decodeUnknownOption(Schema.parseJson(ErrorEnvelope))

/** An error status: the server's own code and message from the envelope, else what the body says. */
const statusFailure = (address: string, error: HttpClientError.ResponseError) =>
  Effect.gen(function*() {
    const { status } = error.response
    const text = yield* Effect.orElseSucceed(error.response.text, () => "")
    const path = error.request.url.startsWith(address) ? error.request.url.slice(address.length) : error.request.url
    const detail = Option.match(decodeEnvelope(text), {
      onNone: () => `${status}: ${text.trim() === "" ? "no explanation given" : text.trim().slice(0, 500)}`,
      onSome: ({ error: { code, message } }) => `${status} ${code}: ${message}`
    })
    return new CliError({ kind: kindOfStatus(status), message: `${error.request.method} ${path}: ${detail}${hints[status] ?? ""}` })
  })

/** Turns any failure of a call into a `CliError` whose kind decides the exit code. */
const failureOf = (address: string) => (error: CallError): Effect.Effect<never, CliError> => {
  if (error instanceof UnexpectedAnswer) {
    return new CliError({
      kind: "unexpected",
      message: `unexpected answer from Miko at ${address} (is it the version of this CLI?): ${error.detail}`
    })
  }
  if (ParseResult.isParseError(error)) return new CliError({ kind: "invalid", message: formatIssues(error) })
  if (HttpClientError.isHttpClientError(error)) {
    if (Predicate.isTagged(error, "RequestError")) {
      return new CliError({
        kind: "unavailable",
        message: `cannot reach Miko at ${address}: ${describeCause(error.cause ?? error)}. ` +
          "Is `miko serve` running? Point the CLI elsewhere with --address or MIKO_ADDRESS."
      })
    }
    if (error.reason === "StatusCode") return Effect.flatMap(statusFailure(address, error), Effect.fail)
  }
  // The error classes the API declares never arrive: `filterStatusOk` stops every error status first.
  return new CliError({ kind: "unexpected", message: error.message })
}

/** A connection to one Miko: calls return the typed answer or a `CliError`. */
export interface Miko {
  readonly address: string
  readonly call: <A, E extends CallError>(use: (client: MikoClient) => Effect.Effect<A, E>) => Effect.Effect<A, CliError>
  /** The same for a wildcard route: `rest` goes where the route has its `*` (a key of /v1/kv/*). */
  readonly callWith: <A, E extends CallError>(rest: string, use: (client: MikoClient) => Effect.Effect<A, E>) => Effect.Effect<A, CliError>
}

const callOn = (target: Target) => <A, E extends CallError>(client: MikoClient, use: (client: MikoClient) => Effect.Effect<A, E>) =>
  use(client).pipe(
    Effect.catchAll(failureOf(target.address)),
    Effect.timeoutFail({
      duration: "10 seconds",
      onTimeout: () => new CliError({ kind: "unavailable", message: `Miko at ${target.address} did not answer within 10s` })
    })
  )

export const connect = (target: Target): Effect.Effect<Miko> =>
  Effect.map(makeClient(target), (client) => ({
    address: target.address,
    call: (use) => callOn(target)(client, use),
    callWith: (rest, use) => Effect.flatMap(makeClient(target, rest), (withRest) => callOn(target)(withRest, use))
  }))

/**
 * A 2xx status the API does not declare for the endpoint, read with `schema`: registering an
 * id again answers 200 (updated), where the API declares only 201 (created).
 */
export const acceptUndeclaredSuccess = <A, I>(schema: Schema.Schema<A, I>) =>
<B, E>(effect: Effect.Effect<B, E>): Effect.Effect<A | B, E | UnexpectedAnswer> =>
  Effect.catchIf(
    effect,
    (error): error is E & HttpClientError.ResponseError =>
      HttpClientError.isHttpClientError(error) && Predicate.isTagged(error, "ResponseError") && error.reason === "Decode" &&
      error.response.status >= 200 && error.response.status < 300,
    (error) =>
      HttpClientResponse.schemaBodyJson(schema)(error.response).pipe(
        Effect.mapError((cause) => new UnexpectedAnswer({ detail: ParseResult.isParseError(cause) ? formatIssues(cause) : cause.message }))
      )
  )
