import type { IncomingMessage, ServerResponse } from "node:http"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { type CallerInfo, coversService, hasRole } from "../auth/caller.js"
import { blockingQueries } from "../registry/metrics.js"
import type { EndpointStatus, Visibility } from "../registry/model.js"
import type { ListQuery, RenderedList, RenderedReads } from "../registry/rendered.js"
import type { Registry } from "../registry/service.js"
import { type ContentCoding, preferredCoding } from "../shared/content-coding.js"
import { MAX_DURATION_MILLIS, parseMillis } from "../shared/duration.js"
import { type FastContext, type Headers, secondsSince, withClosing } from "./fast-context.js"

interface ListRequest {
  readonly query: ListQuery
  readonly index: number | undefined
  readonly waitMillis: number | undefined
}

const serviceName = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const statuses: ReadonlySet<string> = new Set<EndpointStatus>(["passing", "warning", "critical"])
const defaultWaitMillis = 30_000
const heartbeatPath = /^\/v1\/services\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\/endpoints\/([A-Za-z0-9][A-Za-z0-9._:-]{0,127})\/heartbeat$/

/** The API's templates of the routes answered here, so both count under one series. */
const routes = { endpoints: "/v1/endpoints", heartbeat: "/v1/services/:service/endpoints/:id/heartbeat" } as const

/** The plain `GET /v1/endpoints`, the read every client makes: one object per visibility. */
const unfiltered: Record<Visibility, ListRequest> = {
  public: { query: { visibility: "public", filter: {} }, index: undefined, waitMillis: undefined },
  internal: { query: { visibility: "internal", filter: {} }, index: undefined, waitMillis: undefined }
}

/** Clients send the same Accept-Encoding on every request: read once, up to this many different ones. */
const codingsKept = 64

/**
 * The query of `GET /v1/endpoints`, when every part is plainly valid. Anything else (a repeated
 * or unknown parameter, a value the API would refuse) is left to the API, which explains it.
 */
const parseList = (search: string, visibility: Visibility): ListRequest | undefined => {
  if (search === "") return unfiltered[visibility]
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

/**
 * The registry's routes on the fast path: `GET /v1/endpoints` (any filter, blocking or not) from
 * the bytes rendered once per change and query, and the heartbeat of a passing lease taken in memory.
 */
export const makeEndpointAnswers = (context: FastContext, reads: RenderedReads["Type"], registry: Registry["Type"]) => {
  const { parking, record, settings } = context
  const codings = new Map<string, ContentCoding | undefined>()
  const codingOf = (acceptEncoding: string | undefined): ContentCoding | undefined => {
    if (acceptEncoding === undefined) return undefined
    if (codings.has(acceptEncoding)) return codings.get(acceptEncoding)
    if (codings.size >= codingsKept) codings.clear()
    const coding = preferredCoding(acceptEncoding)
    codings.set(acceptEncoding, coding)
    return coding
  }

  const send = (request: IncomingMessage, response: ServerResponse, list: RenderedList, started: number) => {
    const headers: Headers = withClosing(context, {
      "content-type": "application/json",
      "x-miko-index": list.index,
      etag: list.etag,
      "cache-control": "no-cache",
      vary: "Accept-Encoding"
    })
    if (request.headers["if-none-match"] === list.etag) {
      response.writeHead(304, headers).end()
      record(routes.endpoints, "GET", 304, secondsSince(started))
      return
    }
    const coding = codingOf(request.headers["accept-encoding"])
    const body = coding === undefined ? list.body : list.compressed(coding)
    if (coding !== undefined) headers["content-encoding"] = coding
    headers["content-length"] = body.length
    response.writeHead(200, headers).end(body)
    record(routes.endpoints, "GET", 200, secondsSince(started))
  }

  /** Holds the response until the result changes past `since`, the wait runs out, or shutdown begins. */
  const park = (request: IncomingMessage, response: ServerResponse, list: ListRequest, since: number, started: number) => {
    blockingQueries.unsafeModify(1, [])
    parking.park(response, {
      waitMillis: Math.min(list.waitMillis ?? defaultWaitMillis, Duration.toMillis(settings().config.registry.maxWait)),
      subscribe: (wake) => reads.awaitChange(list.query, since, wake),
      answer: () => send(request, response, reads.list(list.query), started),
      onSettle: () => blockingQueries.unsafeModify(-1, [])
    })
  }

  return {
    endpoints: (request: IncomingMessage, response: ServerResponse, visibility: Visibility, search: string, started: number): boolean => {
      const list = parseList(search, visibility)
      if (list === undefined) return false
      const current = reads.list(list.query)
      // An index from the future means the client knew another history (a reset store): answer at once.
      if (list.index === undefined || list.index > current.index || settings().shuttingDown) {
        send(request, response, current, started)
      } else {
        park(request, response, list, list.index, started)
      }
      return true
    },

    /** `PUT /v1/services/{service}/endpoints/{id}/heartbeat` of a passing lease, by a token that may write it. */
    heartbeat: (response: ServerResponse, caller: CallerInfo, path: string, started: number): boolean => {
      const match = heartbeatPath.exec(path)
      if (match === null) return false
      const [, service = "", id = ""] = match
      if (!hasRole(caller, "register") || !coversService(caller, service)) return false
      const body = registry.renewNow(service, id, Date.now())
      if (body === undefined) return false
      response.writeHead(200, withClosing(context, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })).end(body)
      record(routes.heartbeat, "PUT", 200, secondsSince(started))
      return true
    }
  }
}
