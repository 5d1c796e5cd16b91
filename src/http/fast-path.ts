import type { IncomingMessage, ServerResponse } from "node:http"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { anonymous, type CallerInfo, coversService, hasRole } from "../auth/caller.js"
import { Tokens } from "../auth/tokens.js"
import { Cluster } from "../cluster/service.js"
import type { MikoConfig } from "../config/schema.js"
import { ConfigService } from "../config/service.js"
import type { EndpointStatus, Visibility } from "../registry/model.js"
import { visibilityFor } from "../registry/operations.js"
import { type ListQuery, RenderedReads, type RenderedList } from "../registry/rendered.js"
import { Registry } from "../registry/service.js"
import { MAX_DURATION_MILLIS, parseMillis } from "../shared/duration.js"
import { preferredCoding } from "../shared/content-coding.js"
import { Lifecycle } from "../lifecycle/index.js"
import { blockingQueries } from "../registry/metrics.js"
import { makeRequestRecorder } from "./request-metrics.js"
import { Kv } from "../kv/index.js"
import { makeStatusAnswers } from "./fast-status.js"
import { type KvAnswer, type KvPlan, makeKvReads } from "./kv-read.js"

/** Answers a request from memory and says true, or says false and leaves it to the HTTP API. */
export type FastPath = (request: IncomingMessage, response: ServerResponse) => boolean

interface ListRequest {
  readonly query: ListQuery
  readonly index: number | undefined
  readonly waitMillis: number | undefined
}

const serviceName = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const statuses: ReadonlySet<string> = new Set<EndpointStatus>(["passing", "warning", "critical"])
const defaultWaitMillis = 30_000
const heartbeatPath = /^\/v1\/services\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\/endpoints\/([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\/heartbeat$/

/**
 * The query of `GET /v1/endpoints`, when every part is plainly valid. Anything else (a repeated
 * or unknown parameter, a value the API would refuse) is left to the API, which explains it.
 */
const parseList = (search: string, visibility: Visibility): ListRequest | undefined => {
  const services: Array<string> = []
  const single = new Map<string, string>()
  for (const [name, value] of new URLSearchParams(search)) {
    if (name === "service") {
      if (!serviceName.test(value)) return undefined
      services.push(value)
    } else if (["tag", "zone", "status", "index", "wait"].includes(name) && !single.has(name)) {
      single.set(name, value)
    } else {
      return undefined
    }
  }
  const status = single.get("status")
  const index = single.get("index")
  const wait = single.get("wait")
  if (status !== undefined && !statuses.has(status)) return undefined
  if (index !== undefined && !/^\d{1,15}$/.test(index)) return undefined
  const waitMillis = wait === undefined ? undefined : Option.getOrUndefined(parseMillis(wait))
  if (wait !== undefined && (waitMillis === undefined || waitMillis > MAX_DURATION_MILLIS)) return undefined
  const tag = single.get("tag")
  const zone = single.get("zone")
  return {
    query: {
      visibility,
      filter: {
        ...(services.length === 0 ? {} : { services }),
        ...(tag === undefined ? {} : { tag }),
        ...(zone === undefined ? {} : { zone }),
        ...(status === undefined ? {} : { status: status as EndpointStatus })
      }
    },
    index: index === undefined ? undefined : Number(index),
    waitMillis
  }
}


/** The API's templates of the routes answered here, so both count under one series. */
const routes = { endpoints: "/v1/endpoints", heartbeat: "/v1/services/:service/endpoints/:id/heartbeat", kvKey: "/v1/kv/*", kvList: "/v1/kv" } as const

const secondsSince = (started: number) => (performance.now() - started) / 1000

interface Settings {
  readonly config: MikoConfig
  readonly shuttingDown: boolean
  readonly fresh: boolean
}

/**
 * The fast path: `GET /v1/endpoints` (any filter, blocking or not), `GET /v1/services`,
 * `/healthz` and `/readyz` answered from bytes rendered once per change (./fast-status.ts), and the heartbeat of a passing lease taken in memory,
 * without a fiber, span or middleware per request; each is counted with two plain metric updates.
 * Blocking queries are parked as plain responses and answered from the one rendering when their
 * result changes. Everything unusual (a body, an unknown token, telemetry switched on, a query
 * the API would refuse, stale data in a cluster) goes to the HTTP API, which stays the reference.
 */
export const makeFastPath: Effect.Effect<
  FastPath,
  never,
  RenderedReads | Registry | Kv | Tokens | ConfigService | Lifecycle | Cluster | SqlClient.SqlClient | Scope.Scope
> =
  Effect.gen(function*() {
    const reads = yield* RenderedReads
    const registry = yield* Registry
    const tokens = yield* Tokens
    const config = yield* ConfigService
    const lifecycle = yield* Lifecycle
    const cluster = yield* Cluster
    const kv = yield* Kv
    const status = yield* makeStatusAnswers
    const kvReads = makeKvReads(kv)
    // Plain values kept current by fibers, so that a request reads them without entering one.
    let settings: Settings = { config: yield* config.current, shuttingDown: false, fresh: true }
    const parked = new Set<() => void>()
    const record = makeRequestRecorder()

    yield* config.changes.pipe(Stream.runForEach((next) => Effect.sync(() => (settings = { ...settings, config: next }))), Effect.forkScoped)
    yield* lifecycle.shutdown.pipe(
      Effect.zipRight(Effect.sync(() => {
        settings = { ...settings, shuttingDown: true }
        for (const answer of [...parked]) answer()
      })),
      Effect.forkScoped
    )
    if (cluster.shared) {
      yield* cluster.checkFresh.pipe(
        Effect.match({ onFailure: () => false, onSuccess: () => true }),
        Effect.flatMap((fresh) => Effect.sync(() => (settings = { ...settings, fresh }))),
        Effect.repeat(Schedule.spaced(Duration.millis(250))),
        Effect.forkScoped
      )
    }

    /** Who calls; undefined for a header the API must judge (malformed, or a token Miko does not know). */
    const callerOf = (authorization: string | undefined): CallerInfo | undefined => {
      // "Bearer" with nothing after it is no token, as the API reads it: an anonymous caller.
      const match = authorization === undefined ? undefined : /^Bearer(?:\s+(.*))?$/i.exec(authorization)
      if (authorization !== undefined && match === null) return undefined
      const secret = match?.[1]?.trim() ?? ""
      return secret === "" ? anonymous : tokens.identify(secret)
    }

    /** What the caller may see; undefined when the API must answer (an unknown token, a read that needs one). */
    const visibilityOf = (authorization: string | undefined): Visibility | undefined => {
      const caller = callerOf(authorization)
      return caller === undefined ? undefined : visibilityFor(caller, settings.config.registry.publicRead)
    }

    const send = (request: IncomingMessage, response: ServerResponse, list: RenderedList, visibility: Visibility, started: number) => {
      const etag = `"${list.modifiedIndex}-${visibility}"`
      const headers: Record<string, string | number> = {
        "content-type": "application/json",
        "x-miko-index": list.index,
        etag,
        "cache-control": "no-cache",
        vary: "Accept-Encoding"
      }
      // While shutting down, connections are closed after their answer so the server can finish.
      if (settings.shuttingDown) headers["connection"] = "close"
      if (request.headers["if-none-match"] === etag) {
        response.writeHead(304, headers).end()
        record(routes.endpoints, "GET", 304, secondsSince(started))
        return
      }
      const coding = preferredCoding(request.headers["accept-encoding"])
      const body = coding === undefined ? list.body : list.compressed(coding)
      if (coding !== undefined) headers["content-encoding"] = coding
      headers["content-length"] = body.length
      response.writeHead(200, headers).end(body)
      record(routes.endpoints, "GET", 200, secondsSince(started))
    }

    /** Holds the response until the result changes past `since`, the wait runs out, or shutdown begins. */
    const park = (request: IncomingMessage, response: ServerResponse, list: ListRequest, since: number, started: number) => {
      const waitMillis = Math.min(list.waitMillis ?? defaultWaitMillis, Duration.toMillis(settings.config.registry.maxWait))
      let cancel = (): void => undefined
      let timer: ReturnType<typeof setTimeout> | undefined
      let done = false
      const settle = () => {
        if (done) return false
        done = true
        blockingQueries.unsafeModify(-1, [])
        cancel()
        clearTimeout(timer)
        parked.delete(timeUp)
        return true
      }
      const answer = (rendered: RenderedList) => {
        if (settle() && !response.destroyed) send(request, response, rendered, list.query.visibility, started)
      }
      const timeUp = () => answer(reads.list(list.query))
      blockingQueries.unsafeModify(1, [])
      cancel = reads.awaitChange(list.query, since, answer)
      if (done) return
      timer = setTimeout(timeUp, waitMillis)
      parked.add(timeUp)
      response.once("close", settle)
    }

    const endpoints = (request: IncomingMessage, response: ServerResponse, search: string, started: number): boolean => {
      const visibility = visibilityOf(request.headers.authorization)
      if (visibility === undefined) return false
      const list = parseList(search, visibility)
      if (list === undefined) return false
      const current = reads.list(list.query)
      // An index from the future means the client knew another history (a reset store): answer at once.
      if (list.index === undefined || list.index > current.index || settings.shuttingDown) {
        send(request, response, current, visibility, started)
      } else {
        park(request, response, list, list.index, started)
      }
      return true
    }

    const services = (request: IncomingMessage, response: ServerResponse): boolean => {
      const visibility = visibilityOf(request.headers.authorization)
      return visibility !== undefined && status.services(response, visibility)
    }

    /** `PUT /v1/services/{service}/endpoints/{id}/heartbeat` of a passing lease, by a token that may write it. */
    const heartbeat = (request: IncomingMessage, response: ServerResponse, path: string, started: number): boolean => {
      const match = heartbeatPath.exec(path)
      if (match === null) return false
      const [, service = "", id = ""] = match
      const caller = callerOf(request.headers.authorization)
      if (caller === undefined || !hasRole(caller, "register") || !coversService(caller, service)) return false
      const body = registry.renewNow(service, id, Date.now())
      if (body === undefined) return false
      const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
      if (settings.shuttingDown) headers["connection"] = "close"
      response.writeHead(200, headers).end(body)
      record(routes.heartbeat, "PUT", 200, secondsSince(started))
      return true
    }

    const sendKv = (response: ServerResponse, answer: KvAnswer, route: string, started: number) => {
      const headers: Record<string, string | number> = { "content-type": "application/json", "content-length": answer.body.length }
      if (answer.status === 200) Object.assign(headers, { "x-miko-index": answer.index, etag: `"${answer.index}"`, "cache-control": "no-cache" })
      if (settings.shuttingDown) headers["connection"] = "close"
      response.writeHead(answer.status, headers).end(answer.body)
      record(route, "GET", answer.status, secondsSince(started))
    }

    /** Holds a blocking key read until its key or prefix changes past its index, its wait runs out, or shutdown begins. */
    const parkKv = (response: ServerResponse, plan: KvPlan & { readonly type: "park" }, route: string, started: number) => {
      let cancel = (): void => undefined
      let timer: ReturnType<typeof setTimeout> | undefined
      let done = false
      const settle = () => {
        if (done) return false
        done = true
        cancel()
        clearTimeout(timer)
        parked.delete(answer)
        return true
      }
      const answer = () => {
        if (settle() && !response.destroyed) sendKv(response, plan.render(), route, started)
      }
      cancel = kv.table.park(plan.watched, plan.since, answer)
      if (done) return
      timer = setTimeout(answer, plan.waitMillis)
      parked.add(answer)
      response.once("close", settle)
    }

    /** A read of application keys (./kv-read.ts): answered now, or parked when it blocks. */
    const kvRead = (request: IncomingMessage, response: ServerResponse, plan: (caller: CallerInfo) => KvPlan | undefined, route: string, started: number) => {
      const caller = callerOf(request.headers.authorization)
      const planned = caller === undefined ? undefined : plan(caller)
      if (planned === undefined) return false
      if (planned.type === "answer") sendKv(response, planned.answer, route, started)
      else if (settings.shuttingDown) sendKv(response, planned.render(), route, started)
      else parkKv(response, planned, route, started)
      return true
    }

    return (request, response) => {
      if (settings.config.telemetry.otlpEndpoint !== undefined || !settings.fresh) return false
      // A request with a body goes to the API, which reads it within http.maxBodyBytes.
      const length = request.headers["content-length"]
      if ((length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined) return false
      const url = request.url ?? ""
      const started = performance.now()
      if (request.method === "PUT") return !url.includes("?") && heartbeat(request, response, url, started)
      if (request.method !== "GET" || length !== undefined) return false
      const question = url.indexOf("?")
      const path = question === -1 ? url : url.slice(0, question)
      if (path === "/v1/endpoints") return endpoints(request, response, question === -1 ? "" : url.slice(question + 1), started)
      const search = question === -1 ? "" : url.slice(question + 1)
      if (path.startsWith("/v1/kv/")) {
        const key = path.slice("/v1/kv/".length)
        return kvRead(request, response, (caller) => kvReads.key(caller, settings.config.kv.publicRead, key, search), routes.kvKey, started)
      }
      if (path === "/v1/kv") return kvRead(request, response, (caller) => kvReads.list(caller, settings.config.kv.publicRead, search), routes.kvList, started)
      if (question !== -1) return false
      const answered = path === "/healthz"
        ? status.healthz(response)
        : path === "/readyz"
        ? status.readyz(response, settings.shuttingDown)
        : path === "/v1/services"
        ? services(request, response)
        : false
      if (answered) record(path, "GET", 200, secondsSince(started))
      return answered
    }
  })
