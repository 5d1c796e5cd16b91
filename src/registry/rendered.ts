import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type { EndpointFilter, Visibility } from "./model.js"
import type { ContentCoding } from "../shared/content-coding.js"
import { Registry, type RegistryState } from "./service.js"
import { serviceSummaries, visibleEndpoints } from "./view.js"

/** One endpoint-list query: what the caller may see and which endpoints it asks for. */
export interface ListQuery {
  readonly visibility: Visibility
  readonly filter: EndpointFilter
}

/** An endpoint list as bytes, at the directory's current index. */
export interface RenderedList {
  /** The directory's change index, as the body and `X-Miko-Index` carry it. */
  readonly index: number
  /** The index of the last change that altered this result: blocking queries wait for it to pass theirs. */
  readonly modifiedIndex: number
  readonly body: Buffer
  /** The entity tag of this result for its visibility: it changes only when the result does. */
  readonly etag: string
  /** The body compressed with a coding, made on first use and kept until the next change. */
  readonly compressed: (coding: ContentCoding) => Buffer
}

/**
 * Endpoint lists rendered once per change and query, for the read fast path: many callers, few
 * changes. Each query result remembers the change that last altered it, so a blocking query of
 * one service sleeps through changes to any other (as Consul keeps an index per query result).
 * Functions here are synchronous on purpose: they answer from memory without entering a fiber.
 */
export class RenderedReads extends Context.Tag("miko/registry/RenderedReads")<RenderedReads, {
  readonly list: (query: ListQuery) => RenderedList
  /**
   * Calls `wake` once, with the new rendering, when a change alters the result past `since`.
   * Answers a function that cancels the wait.
   */
  readonly awaitChange: (query: ListQuery, since: number, wake: (list: RenderedList) => void) => () => void
  /** The service summaries of `GET /v1/services` as JSON (an array), at the directory's current index. */
  readonly services: (visibility: Visibility) => RenderedServices
}>() {}

export interface RenderedServices {
  readonly index: number
  readonly json: string
}

interface Entry {
  readonly query: ListQuery
  services: string
  renderedIndex: number
  modifiedIndex: number
  body: Buffer | undefined
  compressed: Partial<Record<ContentCoding, Buffer>>
  /** The list as readers get it until the next change: one object for every read in between. */
  view: RenderedList | undefined
  readonly waiters: Set<Waiter>
}

interface Waiter {
  readonly since: number
  readonly wake: (list: RenderedList) => void
}

/**
 * Brotli at quality 5: within a few percent of its best size on JSON lists, at a small fraction of
 * the time quality 11 takes, which would hold up the first read after every change.
 */
const compress: Record<ContentCoding, (body: Buffer) => Buffer> = {
  br: (body) =>
    brotliCompressSync(body, {
      params: {
        [zlib.BROTLI_PARAM_QUALITY]: 5,
        [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
        [zlib.BROTLI_PARAM_SIZE_HINT]: body.length
      }
    }),
  gzip: (body) => gzipSync(body)
}

/** Distinct queries kept rendered; past this, the oldest ones no one waits on are forgotten. */
const maxEntries = 1024

/** The keys of the unfiltered lists, the most read of all: made once rather than on every read. */
const unfilteredKeys: Record<Visibility, string> = { public: "public||||", internal: "internal||||" }

/** One text per query: the same filters in another order share an entry. */
export const queryKey = ({ filter, visibility }: ListQuery): string =>
  filter.services === undefined && filter.tag === undefined && filter.zone === undefined && filter.status === undefined
    ? unfilteredKeys[visibility]
    : [visibility, [...(filter.services ?? [])].sort().join(","), filter.tag ?? "", filter.zone ?? "", filter.status ?? ""].join("|")


const renderServices = (state: RegistryState, query: ListQuery) =>
  JSON.stringify(visibleEndpoints(state, query.visibility, query.filter))

/** Whether the change from `before` to `after` is one change to a service the query leaves out. */
const untouched = (before: RegistryState, after: RegistryState, query: ListQuery) => {
  const services = query.filter.services
  return after.index === before.index + 1 && after.change !== undefined && services !== undefined && services.length > 0 &&
    !services.includes(after.change.service)
}

export const layer: Layer.Layer<RenderedReads, never, Registry> = Layer.scoped(
  RenderedReads,
  Effect.gen(function*() {
    const registry = yield* Registry
    let state = yield* registry.current
    const entries = new Map<string, Entry>()

    const refresh = (entry: Entry, previous: RegistryState) => {
      if (entry.renderedIndex === state.index) return
      if (!(entry.renderedIndex === previous.index && untouched(previous, state, entry.query))) {
        const services = renderServices(state, entry.query)
        if (services !== entry.services) {
          entry.services = services
          entry.modifiedIndex = state.index
        }
      }
      entry.renderedIndex = state.index
      entry.body = undefined
      entry.compressed = {}
      entry.view = undefined
    }

    const view = (entry: Entry): RenderedList => {
      if (entry.view !== undefined) return entry.view
      const body = entry.body ??= Buffer.from(`{"index":${state.index},"services":${entry.services}}`)
      entry.view = {
        index: state.index,
        modifiedIndex: entry.modifiedIndex,
        body,
        etag: `"${entry.modifiedIndex}-${entry.query.visibility}"`,
        compressed: (coding) => (entry.compressed[coding] ??= compress[coding](body))
      }
      return entry.view
    }

    const forgetIdle = () => {
      for (const [key, entry] of entries) {
        if (entries.size <= maxEntries) return
        if (entry.waiters.size === 0) entries.delete(key)
      }
    }

    const entryOf = (query: ListQuery): Entry => {
      const key = queryKey(query)
      const known = entries.get(key)
      if (known !== undefined) {
        refresh(known, state)
        return known
      }
      // A result seen for the first time counts as changed now: at worst one early answer.
      const entry: Entry = {
        query,
        services: renderServices(state, query),
        renderedIndex: state.index,
        modifiedIndex: state.index,
        body: undefined,
        compressed: {},
        view: undefined,
        waiters: new Set()
      }
      entries.set(key, entry)
      if (entries.size > maxEntries) forgetIdle()
      return entry
    }

    const wakeChanged = (previous: RegistryState) => {
      for (const entry of entries.values()) {
        if (entry.waiters.size === 0) continue
        refresh(entry, previous)
        for (const waiter of entry.waiters) {
          if (entry.modifiedIndex <= waiter.since) continue
          entry.waiters.delete(waiter)
          waiter.wake(view(entry))
        }
      }
    }

    yield* registry.changes.pipe(
      Stream.runForEach((next) =>
        Effect.sync(() => {
          const previous = state
          state = next
          wakeChanged(previous)
        })
      ),
      Effect.forkScoped
    )

    // One rendering per visibility, made on first use after a change.
    const summaries = new Map<Visibility, RenderedServices>()
    const services = (visibility: Visibility): RenderedServices => {
      const known = summaries.get(visibility)
      if (known !== undefined && known.index === state.index) return known
      const json = JSON.stringify(serviceSummaries(state, visibility))
      const rendered = { index: state.index, json }
      summaries.set(visibility, rendered)
      return rendered
    }

    return RenderedReads.of({
      services,
      list: (query) => view(entryOf(query)),
      awaitChange: (query, since, wake) => {
        const entry = entryOf(query)
        if (entry.modifiedIndex > since) {
          wake(view(entry))
          return () => undefined
        }
        const waiter: Waiter = { since, wake }
        entry.waiters.add(waiter)
        return () => entry.waiters.delete(waiter)
      }
    })
  })
)
