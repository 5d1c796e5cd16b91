/** Miko's key-value routes (`/v1/kv`), as the configuration views call them. */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { makeCaller } from "./api.js"
import { type ConfigReadError, type ConfigWriteError, KvForbidden, KvKeyNotFound, KvVersionConflict } from "./errors.js"
import { formatDuration, type ResolvedOptions } from "./options.js"
import { decodeKvList, decodeKvWritten, type KvList, type KvWritten } from "./wire.js"

/** How a write meets the key's current version. */
export interface SetOptions {
  /** Compare-and-set: the write succeeds only while the key is at this version (`If-Match`). */
  readonly ifVersion?: number | undefined
  /** Create only: the write succeeds only when the key does not exist (`If-None-Match: *`). */
  readonly create?: boolean | undefined
  /** Recorded with the version in the key's history (at most 1024 characters). */
  readonly comment?: string | undefined
  /** Marks the value secret: listed and kept in history without it for tokens that may not write it. */
  readonly secret?: boolean | undefined
}

export interface DeleteOptions {
  /** Deletes only while the key is at this version (`If-Match`). */
  readonly ifVersion?: number | undefined
}

export interface KvApi {
  /** `GET /v1/kv?prefix=…&values=true`; with an index, a blocking query that waits for a change under the prefix past it. */
  readonly list: (prefix: string, index: number | undefined) => Effect.Effect<KvList, ConfigReadError>
  /** `PUT /v1/kv/{key}`. */
  readonly put: (key: string, value: unknown, options: SetOptions) => Effect.Effect<KvWritten, ConfigWriteError>
  /** `DELETE /v1/kv/{key}`. */
  readonly remove: (key: string, options: DeleteOptions) => Effect.Effect<KvWritten, ConfigWriteError>
}

/** A key in a URL path: its segments are URL-safe already, encoded all the same. */
const keyPath = (key: string) => key.split("/").map(encodeURIComponent).join("/")

/** A 403 of a key-value route is always `kv_forbidden`. */
const forbidden = (key: string) => (status: number, _code: string, message: string) =>
  status === 403 ? new KvForbidden({ key, message: `Miko denies access to ${JSON.stringify(key)}: ${message}` }) : undefined

/** The key-value error codes of writes as the SDK's own errors; other answers keep the common mapping. */
const kvError = (key: string) => (status: number, code: string, message: string) => {
  if (status === 403) return forbidden(key)(status, code, message)
  if (status === 412) return new KvVersionConflict({ key, message: `${JSON.stringify(key)} is not at the expected version: ${message}` })
  if (status === 404 && code === "kv_key_not_found") return new KvKeyNotFound({ key, message: `no key ${JSON.stringify(key)}: ${message}` })
  return undefined
}

const withVersion = (request: HttpClientRequest.HttpClientRequest, ifVersion: number | undefined) =>
  ifVersion === undefined ? request : HttpClientRequest.setHeader(request, "if-match", String(ifVersion))

export const makeKvApi = (options: ResolvedOptions, client: HttpClient.HttpClient): KvApi => {
  const { call, json } = makeCaller(options, client)
  const keyUrl = (key: string) => `${options.address}/v1/kv/${keyPath(key)}`

  return {
    list: (prefix, index) => {
      const params: Record<string, string> = { prefix, values: "true" }
      if (index !== undefined) Object.assign(params, { index: String(index), wait: formatDuration(options.wait) })
      const request = HttpClientRequest.get(`${options.address}/v1/kv`).pipe(HttpClientRequest.appendUrlParams(params))
      // A blocking query may take the whole wait before it answers.
      const timeout = index === undefined ? options.timeout : Duration.sum(options.wait, options.timeout)
      return Effect.flatMap(call(request, timeout, forbidden(prefix)), (response) => json(response, decodeKvList, "key listing"))
    },
    put: (key, value, { comment, create, ifVersion, secret }) => {
      const body = { value, ...(comment === undefined ? {} : { comment }), ...(secret === undefined ? {} : { secret }) }
      let request = withVersion(HttpClientRequest.put(keyUrl(key)).pipe(HttpClientRequest.bodyUnsafeJson(body)), ifVersion)
      if (create === true) request = HttpClientRequest.setHeader(request, "if-none-match", "*")
      return Effect.flatMap(call(request, options.timeout, kvError(key)), (response) => json(response, decodeKvWritten, "write answer"))
    },
    remove: (key, { ifVersion }) =>
      Effect.flatMap(
        call(withVersion(HttpClientRequest.del(keyUrl(key)), ifVersion), options.timeout, kvError(key)),
        (response) => json(response, decodeKvWritten, "delete answer")
      )
  }
}
