import type { CallerInfo } from "../auth/caller.js"
import { accessTo, keyProblem, type Kv, KvOperations, type KvVersion, mayList } from "../kv/index.js"

/** What the fast path sends for one key: its bytes, rendered once per version, and its change index. */
export interface KeyAnswer {
  readonly body: Buffer
  readonly index: number
}

/**
 * `GET /v1/kv/{key}` (not blocking) for the read fast path: the key's current version as the API
 * renders it, from memory. Undefined for whatever the API must answer itself: an invalid key, a
 * route under a key (history), a key the caller may not read, a missing or deleted key.
 */
export const makeKeyReads = (kv: Kv["Type"]) => {
  // One rendering per version, dropped with the version when a newer one replaces it.
  const rendered = new WeakMap<KvVersion, Buffer>()
  return (caller: CallerInfo, publicRead: ReadonlyArray<string>, key: string): KeyAnswer | undefined => {
    if (keyProblem(key) !== undefined || accessTo(caller, publicRead, key) === "none") return undefined
    const version = kv.table.current(key)
    if (version === undefined || version.deleted) return undefined
    let body = rendered.get(version)
    if (body === undefined) {
      body = Buffer.from(JSON.stringify(KvOperations.entryOf(version)))
      rendered.set(version, body)
    }
    return { body, index: version.index }
  }
}

const prefixPattern = /^[A-Za-z0-9._/-]{0,512}$/
/** Listings kept rendered; beyond this many (prefix, values) pairs the cache starts again. */
const renderedListings = 1_024

/** The query of `GET /v1/kv` when it is plainly valid and not blocking; anything else is the API's. */
export const parseListQuery = (search: string): { readonly prefix: string; readonly values: boolean } | undefined => {
  let prefix = ""
  let values = false
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(search)) {
    if (seen.has(name)) return undefined
    seen.add(name)
    if (name === "prefix" && prefixPattern.test(value)) prefix = value
    else if (name === "values" && (value === "true" || value === "false")) values = value === "true"
    else return undefined
  }
  return { prefix, values }
}

/**
 * `GET /v1/kv?prefix=P&values=V` (not blocking) for the read fast path: rendered once per change
 * under the prefix and shared by every caller who may list it. A listing with secret values is
 * left to the API, which shows them to writers only; so is a prefix the caller may not list.
 */
export const makeListReads = (kv: Kv["Type"]) => {
  const rendered = new Map<string, KeyAnswer>()
  return (caller: CallerInfo, publicRead: ReadonlyArray<string>, prefix: string, values: boolean): KeyAnswer | undefined => {
    if (!mayList(caller, publicRead, prefix)) return undefined
    const index = kv.table.indexOf({ prefix })
    const name = `${values}:${prefix}`
    const known = rendered.get(name)
    if (known !== undefined && known.index === index) return known
    const items = kv.table.under(prefix)
    if (values && items.some((version) => version.secret)) return undefined
    const body = Buffer.from(JSON.stringify({ prefix, index, items: items.map((version) => KvOperations.itemOf(version, values)) }))
    if (rendered.size >= renderedListings) rendered.clear()
    const answer = { body, index }
    rendered.set(name, answer)
    return answer
  }
}
