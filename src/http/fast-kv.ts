import type { ServerResponse } from "node:http"
import type { CallerInfo } from "../auth/caller.js"
import type { Kv } from "../kv/index.js"
import { type FastContext, type Headers, secondsSince, withClosing } from "./fast-context.js"
import { type KvAnswer, type KvPlan, makeKvReads } from "./kv-read.js"

/** The API's templates of the routes answered here, so both count under one series. */
const routes = { key: "/v1/kv/*", list: "/v1/kv" } as const

/**
 * Reads of application keys on the fast path (plans from ./kv-read.ts): `GET /v1/kv/{key}` and
 * `GET /v1/kv?prefix=`, answered now or parked until their key or prefix changes.
 */
export const makeKvAnswers = (context: FastContext, kv: Kv["Type"]) => {
  const { parking, record, settings } = context
  const reads = makeKvReads(kv)

  const send = (response: ServerResponse, answer: KvAnswer, route: string, started: number) => {
    const headers: Headers = { "content-type": "application/json", "content-length": answer.body.length }
    if (answer.status === 200) Object.assign(headers, { "x-miko-index": answer.index, etag: `"${answer.index}"`, "cache-control": "no-cache" })
    response.writeHead(answer.status, withClosing(context, headers)).end(answer.body)
    record(route, "GET", answer.status, secondsSince(started))
  }

  const answer = (response: ServerResponse, planned: KvPlan | undefined, route: string, started: number): boolean => {
    if (planned === undefined) return false
    if (planned.type === "answer") send(response, planned.answer, route, started)
    else if (settings().shuttingDown) send(response, planned.render(), route, started)
    else {
      parking.park(response, {
        waitMillis: planned.waitMillis,
        subscribe: (wake) => kv.table.park(planned.watched, planned.since, wake),
        answer: () => send(response, planned.render(), route, started)
      })
    }
    return true
  }

  return {
    key: (response: ServerResponse, caller: CallerInfo, key: string, search: string, started: number) =>
      answer(response, reads.key(caller, settings().config.kv.publicRead, key, search), routes.key, started),
    list: (response: ServerResponse, caller: CallerInfo, search: string, started: number) =>
      answer(response, reads.list(caller, settings().config.kv.publicRead, search), routes.list, started)
  }
}
