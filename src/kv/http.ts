import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { Unauthorized } from "../auth/errors.js"
import { Authentication } from "../auth/middleware.js"
import { errorResponse } from "../shared/api-error.js"
import { DurationString } from "../shared/duration.js"
import { groupApi } from "../shared/http-api.js"
import { StorageError } from "../storage/errors.js"
import { KvForbidden, KvInvalidKey, KvKeyNotFound, KvValueTooLarge, KvVersionConflict, KvVersionNotFound } from "./errors.js"
import { KvDeleted, KvEntry, KvHistory, KvList, KvPrefix, KvPut, KvRollback, KvWritten } from "./model.js"
import { KvWriteGate } from "./gate.js"
import * as Operations from "./operations.js"

/** The rest of the path after /v1/kv/: the key, and for history and rollback their segment after it. */
const KeyPath = Schema.Struct({
  "*": Schema.String.annotations({ description: "The key (billing/db/pool-size), then /history or /rollback for those routes" })
})

const blockingParams = {
  index: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative()), { exact: true }).annotations({
    description: "Wait until the change index is past this one (a blocking query)"
  }),
  wait: Schema.optionalWith(DurationString, { exact: true }).annotations({ description: "Longest wait for a blocking query (default 30s, at most 10m)" })
}

const ListParams = Schema.Struct({
  prefix: Schema.optionalWith(KvPrefix, { default: () => "" }).annotations({ description: "Only keys starting with this text (billing/)" }),
  values: Schema.optionalWith(Schema.BooleanFromString, { default: () => false }).annotations({ description: "Include the values" }),
  ...blockingParams
})

const defaultHistoryLimit = 100

const GetParams = Schema.Struct({
  ...blockingParams,
  limit: Schema.optionalWith(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)), { exact: true }).annotations({
    description: "For /history: most versions returned (default 100)"
  })
})

/** `If-Match: <version>` (bare or quoted): write only when the key is at that version. */
const IfMatch = Schema.optionalWith(
  Schema.String.pipe(Schema.pattern(/^\s*"?\d+"?\s*$/, { message: () => "If-Match must be a version number, such as 3" })).annotations({
    description: "Compare-and-set: the key's current version; 412 when it differs or the key does not exist"
  }),
  { exact: true }
)
const ConditionHeaders = Schema.Struct({ "if-match": IfMatch })
const PutHeaders = Schema.Struct({
  "if-match": IfMatch,
  "if-none-match": Schema.optionalWith(Schema.Literal("*").annotations({ description: "Create only: 412 when the key exists" }), { exact: true })
})

const versionOf = (ifMatch: string | undefined) => (ifMatch === undefined ? undefined : Number(ifMatch.replace(/["\s]/g, "")))

/** Application keys with versions; access by each token's kv rules (docs/kv.md). */
export class KvApi extends HttpApiGroup.make("kv")
  .add(HttpApiEndpoint.get("list", "/v1/kv").setUrlParams(ListParams).addSuccess(KvList))
  .add(
    HttpApiEndpoint.get("get", "/v1/kv/*")
      .setPath(KeyPath)
      .setUrlParams(GetParams)
      .addSuccess(KvEntry)
      .addSuccess(KvHistory)
  )
  .add(
    HttpApiEndpoint.put("put", "/v1/kv/*")
      .setPath(KeyPath)
      .middleware(KvWriteGate)
      .setHeaders(PutHeaders)
      .setPayload(KvPut)
      .addSuccess(KvWritten)
  )
  .add(HttpApiEndpoint.del("delete", "/v1/kv/*").setPath(KeyPath).setHeaders(ConditionHeaders).middleware(KvWriteGate).addSuccess(KvDeleted))
  .add(
    HttpApiEndpoint.post("rollback", "/v1/kv/*")
      .setPath(KeyPath)
      .middleware(KvWriteGate)
      .setHeaders(ConditionHeaders)
      .setPayload(KvRollback)
      .addSuccess(KvWritten)
  )
  .addError(KvInvalidKey)
  .addError(KvKeyNotFound)
  .addError(KvForbidden)
  .addError(KvVersionConflict)
  .addError(KvVersionNotFound)
  .addError(KvValueTooLarge)
  .addError(Unauthorized)
  .addError(StorageError)
  .middleware(Authentication)
{}

/** The key of a route under a key (`billing/x/history` → `billing/x`), or undefined when the path is not one. */
const keyBefore = (path: string, segment: string) => (path.endsWith(`/${segment}`) ? path.slice(0, -segment.length - 1) : undefined)

/**
 * The key of the request: the router's match, unless the raw path had a double slash, which the
 * router folds into one but the key rules refuse.
 */
const keyOf = (request: HttpServerRequest.HttpServerRequest, matched: string) => {
  const path = request.url.split("?")[0] ?? ""
  const raw = path.slice(path.indexOf("/v1/kv/") + "/v1/kv/".length)
  return raw.includes("//") ? raw : matched
}

const withIndex = (body: unknown, index: number) =>
  HttpServerResponse.unsafeJson(body, { headers: { "x-miko-index": String(index), etag: `"${index}"`, "cache-control": "no-cache" } })

const blockingOf = (params: { readonly index?: number | undefined; readonly wait?: Duration.Duration | undefined }) =>
  params.index === undefined ? undefined : { index: params.index, wait: params.wait }

export const layerKvHandlers = HttpApiBuilder.group(groupApi(KvApi), "kv", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) =>
      Effect.map(Operations.listKeys(urlParams.prefix, urlParams.values, blockingOf(urlParams)), ({ list, index }) => withIndex(list, index)))
    .handle("get", ({ path, request, urlParams }) => {
      const key = keyOf(request, path["*"])
      const historyOf = keyBefore(key, "history")
      return historyOf === undefined
        ? Effect.map(Operations.getKey(key, blockingOf(urlParams)), ({ entry, index }) => withIndex(entry, index))
        : Effect.map(Operations.keyHistory(historyOf, urlParams.limit ?? defaultHistoryLimit), (history) => HttpServerResponse.unsafeJson(history))
    })
    .handle("put", ({ path, request, headers, payload }) =>
      Operations.putKey(keyOf(request, path["*"]), payload, { ifVersion: versionOf(headers["if-match"]), create: headers["if-none-match"] === "*" }))
    .handle("delete", ({ path, request, headers }) => Operations.deleteKey(keyOf(request, path["*"]), { ifVersion: versionOf(headers["if-match"]) }))
    .handle("rollback", ({ path, request, headers, payload }) => {
      const key = keyBefore(keyOf(request, path["*"]), "rollback")
      return key === undefined
        ? Effect.succeed(errorResponse(404, "not_found", `no route for POST /v1/kv/${path["*"]}: roll a key back with POST /v1/kv/{key}/rollback`))
        : Effect.map(Operations.rollbackKey(key, payload.version, { ifVersion: versionOf(headers["if-match"]) }), (written) => HttpServerResponse.unsafeJson(written))
    }))
