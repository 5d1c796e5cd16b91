import * as Option from "effect/Option"
import type { CallerInfo } from "../auth/caller.js"
import { accessTo, keyProblem, type Kv, KvOperations, type KvVersion, mayList } from "../kv/index.js"
import { errorBodyOf } from "../shared/api-error.js"
import { parseMillis } from "../shared/duration.js"

/** An answer of the fast path for keys: status, bytes and the change index of what it shows. */
export interface KvAnswer {
  readonly status: number
  readonly body: Buffer
  readonly index: number
}

/**
 * What to do with a read: answer now, or park until `watched` changes past `since` (or `waitMillis`
 * runs out) and then answer with `render()`. Undefined: the API answers (it explains what is wrong).
 */
type Watched = { readonly key: string } | { readonly prefix: string }

export type KvPlan =
  | { readonly type: "answer"; readonly answer: KvAnswer }
  | {
    readonly type: "park"
    readonly watched: Watched
    readonly since: number
    readonly waitMillis: number
    readonly render: () => KvAnswer
  }

const prefixPattern = /^[A-Za-z0-9._/-]{0,512}$/
const defaultWaitMillis = 30_000
const maxWaitMillis = 600_000
/** Listings kept rendered; beyond this many (prefix, values) pairs the cache starts again. */
const renderedListings = 1_024

interface Query {
  readonly prefix?: string
  readonly values?: boolean
  readonly index?: number
  readonly waitMillis?: number
}

/** The query of a read when every part is plainly valid; anything else is the API's to explain. */
const parseQuery = (search: string, names: ReadonlySet<string>): Query | undefined => {
  const query: { prefix?: string; values?: boolean; index?: number; waitMillis?: number } = {}
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(search)) {
    if (seen.has(name) || !names.has(name)) return undefined
    seen.add(name)
    const millis = name === "wait" ? Option.getOrUndefined(parseMillis(value)) : undefined
    if (name === "prefix" && prefixPattern.test(value)) query.prefix = value
    else if (name === "values" && (value === "true" || value === "false")) query.values = value === "true"
    else if (name === "index" && /^\d{1,15}$/.test(value)) query.index = Number(value)
    else if (millis !== undefined) query.waitMillis = millis
    else return undefined
  }
  return query
}

const listNames: ReadonlySet<string> = new Set(["prefix", "values", "index", "wait"])
const keyNames: ReadonlySet<string> = new Set(["index", "wait"])

const ok = (body: Buffer, index: number): KvAnswer => ({ status: 200, body, index })

/**
 * The reads of application keys the fast path answers from memory: `GET /v1/kv/{key}` and
 * `GET /v1/kv?prefix=`, blocking or not, with the bytes the API would send (a key rendered once
 * per version; a listing once per change under its prefix, shared by every caller who may list
 * it, unless it shows secret values, which depend on the caller). Blocking reads are parked by
 * the caller of `plan` on the table's per-key and per-prefix waiters.
 */
export const makeKvReads = (kv: Kv["Type"]) => {
  const renderedKeys = new WeakMap<KvVersion, Buffer>()
  const renderedLists = new Map<string, KvAnswer>()

  const keyAnswer = (key: string): KvAnswer => {
    const version = kv.table.current(key)
    if (version === undefined || version.deleted) {
      const body = Buffer.from(JSON.stringify({ error: errorBodyOf(KvOperations.notFound(key)) }))
      return { status: 404, body, index: version?.index ?? 0 }
    }
    let body = renderedKeys.get(version)
    if (body === undefined) {
      body = Buffer.from(JSON.stringify(KvOperations.entryOf(version)))
      renderedKeys.set(version, body)
    }
    return ok(body, version.index)
  }

  const listAnswer = (caller: CallerInfo, publicRead: ReadonlyArray<string>, prefix: string, values: boolean): KvAnswer => {
    const index = kv.table.indexOf({ prefix })
    const name = `${values}:${prefix}`
    const known = renderedLists.get(name)
    if (known !== undefined && known.index === index) return known
    const items = kv.table.under(prefix)
    const secret = values && items.some((version) => version.secret)
    const shown = items.map((version) => KvOperations.listedItem(caller, publicRead, version, values))
    const answer = ok(Buffer.from(JSON.stringify({ prefix, index, items: shown })), index)
    if (secret) return answer
    if (renderedLists.size >= renderedListings) renderedLists.clear()
    renderedLists.set(name, answer)
    return answer
  }

  const planOf = (query: Query, watched: Watched, render: () => KvAnswer): KvPlan => {
    if (query.index === undefined) return { type: "answer", answer: render() }
    const waitMillis = Math.min(query.waitMillis ?? defaultWaitMillis, maxWaitMillis)
    return { type: "park", watched, since: query.index, waitMillis, render }
  }

  /** `GET /v1/kv/{key}`: a key the caller may not read, or an invalid one, is the API's (404, 400). */
  const key = (caller: CallerInfo, publicRead: ReadonlyArray<string>, key: string, search: string): KvPlan | undefined => {
    if (keyProblem(key) !== undefined || accessTo(caller, publicRead, key) === "none") return undefined
    const query = parseQuery(search, keyNames)
    if (query === undefined) return undefined
    // Not blocking, a missing key goes to the API too: only what the fast path exists for is answered here.
    if (query.index === undefined && keyAnswer(key).status !== 200) return undefined
    return planOf(query, { key }, () => keyAnswer(key))
  }

  /** `GET /v1/kv?prefix=`: a prefix the caller may not list is the API's (403). */
  const list = (caller: CallerInfo, publicRead: ReadonlyArray<string>, search: string): KvPlan | undefined => {
    const query = parseQuery(search, listNames)
    if (query === undefined || !mayList(caller, publicRead, query.prefix ?? "")) return undefined
    const prefix = query.prefix ?? ""
    return planOf(query, { prefix }, () => listAnswer(caller, publicRead, prefix, query.values ?? false))
  }

  return { key, list }
}
