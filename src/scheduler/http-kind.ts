import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { CurrentRun } from "./run-info.js"
import type { HttpRequestSpec } from "./schema.js"

/** An `http` task's request failed or was not answered with a 2xx. */
export class HttpTaskFailed extends Schema.TaggedError<HttpTaskFailed>()("HttpTaskFailed", { message: Schema.String }) {}

/** A request without a task timeout still ends: a hung peer must not hold a slot forever. */
const DEFAULT_REQUEST_TIMEOUT = Duration.seconds(30)

const contentTypeOf = (spec: HttpRequestSpec, body: string) => {
  const given = Object.entries(spec.headers).find(([name]) => name.toLowerCase() === "content-type")
  if (given !== undefined) return given[1]
  return Either.isRight(Either.try(() => JSON.parse(body) as unknown)) ? "application/json" : "text/plain"
}

/** `{key: "billing/x"}` → `X-Miko-Context-Key: billing/x`: what the firing was about, for the receiver. */
const contextHeaders = (context: Readonly<Record<string, string>>) =>
  Object.fromEntries(Object.entries(context).map(([name, value]) => [`x-miko-context-${name.toLowerCase()}`, value]))

/** The work of an `http` task: one request; a 2xx answer is a success, anything else a failure. */
export const httpWork = (spec: HttpRequestSpec, timeout: Duration.Duration | undefined) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const { context } = yield* CurrentRun
    const base = HttpClientRequest.make(spec.method)(spec.url).pipe(
      HttpClientRequest.setHeaders(spec.headers),
      HttpClientRequest.setHeaders(contextHeaders(context))
    )
    const request = spec.body === undefined ? base : HttpClientRequest.bodyText(base, spec.body, contentTypeOf(spec, spec.body))
    const response = yield* client.execute(request).pipe(
      Effect.mapError((error) => new HttpTaskFailed({ message: `${spec.method} ${spec.url}: ${error.message}` }))
    )
    if (response.status < 200 || response.status > 299) {
      return yield* new HttpTaskFailed({ message: `${spec.method} ${spec.url} answered ${response.status}` })
    }
    return `HTTP ${response.status}`
  }).pipe(
    Effect.scoped,
    timeout === undefined
      ? Effect.timeoutFail({
        duration: DEFAULT_REQUEST_TIMEOUT,
        onTimeout: () => new HttpTaskFailed({ message: `${spec.method} ${spec.url}: no answer within ${Duration.format(DEFAULT_REQUEST_TIMEOUT)}` })
      })
      : (effect) => effect
  )
