import * as Headers from "@effect/platform/Headers"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Multipart from "@effect/platform/Multipart"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Readable } from "node:stream"

/**
 * Why a request body was not accepted, with the status and code the edge answers. It travels as
 * the `cause` of the platform's own body errors, because the HttpApi reads payloads through the
 * request and turns those errors into defects.
 */
export class BodyRejected extends Data.TaggedError("BodyRejected")<{
  readonly status: 400 | 413 | 415
  readonly code: string
  readonly message: string
}> {}

/** The rejection carried by a platform body error, if it is one of ours. */
export const rejectionOf = (error: unknown): BodyRejected | undefined => {
  const cause = typeof error === "object" && error !== null ? (error as { readonly cause?: unknown }).cause : undefined
  return cause instanceof BodyRejected ? cause : undefined
}

/**
 * Deeper bodies are refused before parsing: the values of the API are a few levels deep, while
 * validating, storing or printing a value nested thousands of levels exhausts the stack.
 */
export const MAX_JSON_DEPTH = 64

const tooLarge = (maxBytes: number) =>
  new BodyRejected({
    status: 413,
    code: "payload_too_large",
    message: `the request body is larger than http.maxBodyBytes (${maxBytes})`
  })

const invalidJson = (reason: string) =>
  new BodyRejected({ status: 400, code: "invalid_json", message: `the request body is not valid JSON: ${reason}` })

const unsupported = (what: string) =>
  new BodyRejected({
    status: 415,
    code: "unsupported_media_type",
    message: `${what}; the API reads JSON bodies: send Content-Type: application/json (UTF-8)`
  })

/** A header as it is echoed in a message: quoted and cut short, since any client can send it. */
const quoted = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)

const isJsonType = (essence: string) => essence === "application/json" || /^application\/[\w.!#$&^-]+\+json$/.test(essence)

const charsetOf = (parameters: ReadonlyArray<string>): string | undefined => {
  for (const parameter of parameters) {
    const [name = "", value = ""] = parameter.split("=", 2)
    if (name.trim().toLowerCase() === "charset") return value.trim().replace(/^"(.*)"$/, "$1").toLowerCase()
  }
  return undefined
}

/**
 * Which bodies are read, by Content-Type: JSON types, and for compatibility no type and the form
 * type (`curl -d` sends it with JSON bodies), all as UTF-8 JSON. Any other type, another charset
 * or a header that is no media type is answered 415 when the route reads the body.
 */
export const mediaTypeRejection = (header: string | undefined): BodyRejected | undefined => {
  if (header === undefined || header.trim() === "") return undefined
  const [essence = "", ...parameters] = header.split(";")
  const type = essence.trim().toLowerCase()
  if (type !== "application/x-www-form-urlencoded" && !isJsonType(type)) {
    return unsupported(`Content-Type ${quoted(header)} is not supported`)
  }
  const charset = charsetOf(parameters)
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    return unsupported(`the charset ${quoted(charset)} is not supported`)
  }
  return undefined
}

/**
 * Reads a body up to `maxBytes`. Past the limit it stops keeping data but lets the rest of the
 * body drain instead of destroying the stream, which would reset the connection before the 413
 * is written; the answer goes out at once and the connection stays usable.
 */
const readBody = (source: Readable, maxBytes: number): Effect.Effect<Buffer, BodyRejected> =>
  Effect.async<Buffer, BodyRejected>((resume) => {
    const chunks: Array<Buffer> = []
    let size = 0
    const detach = () => {
      source.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose)
    }
    const settle = (result: Effect.Effect<Buffer, BodyRejected>) => {
      detach()
      resume(result)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.length
      if (size <= maxBytes) return void chunks.push(chunk)
      settle(Effect.fail(tooLarge(maxBytes)))
      source.resume()
    }
    const onEnd = () => settle(Effect.succeed(Buffer.concat(chunks, size)))
    const onError = (error: Error) =>
      settle(Effect.fail(new BodyRejected({ status: 400, code: "invalid_request", message: `the request body could not be read: ${error.message}` })))
    // A client gone mid-body: nobody reads the answer, but the read must not hang.
    const onClose = () => onError(new Error("the connection closed before the body ended"))
    source.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose)
    return Effect.sync(() => {
      detach()
      source.resume()
    })
  })

const decodeUtf8 = (bytes: Uint8Array): Effect.Effect<string, BodyRejected> =>
  Effect.try({
    try: () => new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    catch: () => invalidJson("it is not UTF-8 text")
  })

/** Whether the text nests objects and arrays deeper than `limit`, counting outside strings only. */
export const nestsDeeperThan = (text: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (inString) {
      if (char === "\\") index++
      else if (char === "\"") inString = false
    } else if (char === "\"") inString = true
    else if (char === "{" || char === "[") {
      if (++depth > limit) return true
    } else if (char === "}" || char === "]") depth--
  }
  return false
}

const parseJson = (text: string): Effect.Effect<unknown, BodyRejected> => {
  // An empty body reads as null, as in the platform, so that the payload Schema names what is missing.
  if (text === "") return Effect.succeed(null)
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    return Effect.fail(
      new BodyRejected({ status: 400, code: "invalid_json", message: `the request body nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels` })
    )
  }
  return Effect.try({ try: (): unknown => JSON.parse(text), catch: (error) => invalidJson(error instanceof Error ? error.message : String(error)) })
}

type Body = Effect.Effect<Uint8Array, HttpServerError.RequestError>

/**
 * A request whose body readers follow the API's rules: only JSON is read, within a size limit,
 * and every refusal is a `BodyRejected` the edge renders. Everything else is the original request.
 */
class JsonBodyRequest extends Inspectable.Class implements HttpServerRequest.HttpServerRequest {
  readonly [HttpServerRequest.TypeId]: HttpServerRequest.TypeId = HttpServerRequest.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId

  constructor(readonly original: HttpServerRequest.HttpServerRequest, readonly body: Body) {
    super()
  }

  get source() {
    return this.original.source
  }
  get url() {
    return this.original.url
  }
  get originalUrl() {
    return this.original.originalUrl
  }
  get method() {
    return this.original.method
  }
  get cookies() {
    return this.original.cookies
  }
  get headers() {
    return this.original.headers
  }
  get remoteAddress() {
    return this.original.remoteAddress
  }
  get upgrade() {
    return this.original.upgrade
  }

  private refuse(rejection: BodyRejected) {
    return new HttpServerError.RequestError({ request: this, reason: "Decode", cause: rejection, description: rejection.message })
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpServerError.RequestError> {
    return Effect.map(this.body, (bytes) => new Uint8Array(bytes).buffer)
  }
  get text(): Effect.Effect<string, HttpServerError.RequestError> {
    return Effect.flatMap(this.body, (bytes) => Effect.mapError(decodeUtf8(bytes), (rejection) => this.refuse(rejection)))
  }
  get json(): Effect.Effect<unknown, HttpServerError.RequestError> {
    return Effect.flatMap(this.text, (text) => Effect.mapError(parseJson(text), (rejection) => this.refuse(rejection)))
  }
  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpServerError.RequestError> {
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text)))
  }
  get stream(): Stream.Stream<Uint8Array, HttpServerError.RequestError> {
    return Stream.fromEffect(this.body)
  }

  /** The API takes no multipart bodies: their parser even throws on a header without a boundary. */
  get multipart(): Effect.Effect<Multipart.Persisted, Multipart.MultipartError> {
    return Effect.fail(this.multipartRefused())
  }
  get multipartStream(): Stream.Stream<Multipart.Part, Multipart.MultipartError> {
    return Stream.fail(this.multipartRefused())
  }
  private multipartRefused() {
    const rejection = mediaTypeRejection(this.headers["content-type"]) ?? unsupported("multipart bodies are not supported")
    return new Multipart.MultipartError({ reason: "Parse", cause: rejection })
  }

  modify(options: Parameters<HttpServerRequest.HttpServerRequest["modify"]>[0]): HttpServerRequest.HttpServerRequest {
    return new JsonBodyRequest(this.original.modify(options), this.body)
  }

  toJSON(): unknown {
    return this.original.toJSON()
  }
}

/**
 * The body of a request served by Node: read from the socket with the draining limit above.
 * Other servers (an embedder's) are read through the platform, the limit checked on the result.
 */
const bodyOf = (request: HttpServerRequest.HttpServerRequest, maxBytes: number): Effect.Effect<Uint8Array, BodyRejected | HttpServerError.RequestError> => {
  const source = request.source
  if (isReadable(source)) return readBody(source, maxBytes)
  return request.arrayBuffer.pipe(
    HttpIncomingMessage.withMaxBodySize(Option.some(maxBytes)),
    Effect.filterOrFail((buffer) => buffer.byteLength <= maxBytes, () => tooLarge(maxBytes)),
    Effect.map((buffer) => new Uint8Array(buffer))
  )
}

/**
 * The request as the API sees it: a body it may read is presented as JSON whatever the client
 * called it, and read at most once, within `maxBytes`; a body of another type fails with 415
 * when read, so routes without a body, the 404 of an unknown route and authentication answer
 * before the body's type matters.
 */
export const jsonBodyRequest = (
  request: HttpServerRequest.HttpServerRequest,
  maxBytes: number
): Effect.Effect<HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const rejection = mediaTypeRejection(request.headers["content-type"])
    const failWith = (cause: BodyRejected | HttpServerError.RequestError) =>
      cause instanceof BodyRejected ? new HttpServerError.RequestError({ request, reason: "Decode", cause, description: cause.message }) : cause
    if (rejection !== undefined) return new JsonBodyRequest(request, Effect.fail(failWith(rejection)))
    const presented = request.modify({ headers: Headers.set(request.headers, "content-type", "application/json") })
    // Read on first use only, then shared: a route that never reads the body never waits for it.
    return new JsonBodyRequest(presented, yield* Effect.cached(Effect.mapError(bodyOf(request, maxBytes), failWith)))
  })

const isReadable = (value: unknown): value is Readable =>
  typeof value === "object" && value !== null && typeof (value as { readonly on?: unknown }).on === "function" &&
  typeof (value as { readonly resume?: unknown }).resume === "function"
