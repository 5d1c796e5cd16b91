import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import type { Endpoint, EndpointFilter, RegistryChange, Visibility } from "../registry/model.js"
import { type EndpointRecord, toEndpoint } from "../registry/record.js"
import { Registry } from "../registry/service.js"
import { visibleEndpoints } from "../registry/view.js"
import { frameText, type TextFrame } from "./socket.js"

/** One `endpoints` subscription of one connection. */
export interface EndpointSubscriber {
  readonly key: string
  readonly subscription: string
  readonly filter: EndpointFilter
  readonly visibility: Visibility
  /** Hands a message to the socket at once; false when the connection's outgoing limit is exceeded. */
  readonly sendText: (text: string | Buffer) => boolean
  /** The same for a change, framed once for all the subscribers it goes to. */
  readonly sendFrame: (frame: TextFrame) => boolean
  /** What to do when sending was refused: close the connection as a slow consumer. */
  readonly overflow: Effect.Effect<void>
}

interface Entry extends EndpointSubscriber {
  /** Changes up to this index were covered by the snapshot or replay it got when it joined. */
  readonly after: number
}

const matchesChange = (endpoint: Endpoint, filter: EndpointFilter, statusChange: boolean) =>
  (filter.services === undefined || filter.services.length === 0 || filter.services.includes(endpoint.service)) &&
  (filter.tag === undefined || endpoint.tags.includes(filter.tag)) &&
  (filter.zone === undefined || endpoint.zone === filter.zone) &&
  // A status change is sent even when it leaves the filtered status, so the client sees the endpoint go.
  (filter.status === undefined || statusChange || endpoint.status === filter.status)

const eventText = (subscription: string, data: string) =>
  `{"type":"event","topic":"endpoints","subscription":${JSON.stringify(subscription)},"data":${data}}`

const changeData = (change: RegistryChange, endpoint: Endpoint) =>
  JSON.stringify({ type: change.type, index: change.index, service: change.service, endpointId: change.endpointId, endpoint })

/**
 * Delivers registry changes to every `endpoints` subscription from one fiber: each change is
 * rendered and encoded once per visibility (and subscription id) and the same bytes are written
 * straight to every socket, so a thousand subscribers cost a loop, not a thousand fibers waking.
 */
export class EndpointBroadcast extends Context.Tag("miko/websocket/EndpointBroadcast")<EndpointBroadcast, {
  /** Sends the snapshot (or the changes after `fromIndex`), then every change after it. */
  readonly add: (subscriber: EndpointSubscriber, fromIndex: number | undefined) => Effect.Effect<void>
  readonly remove: (key: string) => Effect.Effect<void>
}>() {}

export const layer: Layer.Layer<EndpointBroadcast, never, Registry> = Layer.scoped(
  EndpointBroadcast,
  Effect.gen(function*() {
    const registry = yield* Registry
    const subscribers = yield* Ref.make<ReadonlyMap<string, Entry>>(new Map())
    const lock = yield* Effect.makeSemaphore(1)

    const deliver = (change: RegistryChange, record: EndpointRecord) =>
      Effect.gen(function*() {
        const views = new Map<Visibility, { readonly endpoint: Endpoint; readonly data: string } | undefined>()
        const viewFor = (visibility: Visibility) => {
          if (!views.has(visibility)) {
            const endpoint = toEndpoint(record, visibility)
            views.set(visibility, endpoint === undefined ? undefined : { endpoint, data: changeData(change, endpoint) })
          }
          return views.get(visibility)
        }
        // Subscription ids count per connection, so most subscribers share one: framed once for all of them.
        const frames = new Map<string, TextFrame>()
        const frameFor = (visibility: Visibility, subscription: string, data: string) => {
          const key = `${visibility} ${subscription}`
          let frame = frames.get(key)
          if (frame === undefined) frames.set(key, frame = frameText(Buffer.from(eventText(subscription, data))))
          return frame
        }
        const overflowed: Array<Effect.Effect<void>> = []
        for (const entry of (yield* Ref.get(subscribers)).values()) {
          if (change.index <= entry.after) continue
          const view = viewFor(entry.visibility)
          if (view === undefined || !matchesChange(view.endpoint, entry.filter, change.type === "status")) continue
          if (!entry.sendFrame(frameFor(entry.visibility, entry.subscription, view.data))) overflowed.push(entry.overflow)
        }
        yield* Effect.all(overflowed, { discard: true })
      })

    yield* registry.watch().pipe(
      Stream.runForEach((event) => (Predicate.isTagged(event, "Change") ? lock.withPermits(1)(deliver(event.change, event.record)) : Effect.void)),
      Effect.forkScoped
    )

    const add = (subscriber: EndpointSubscriber, fromIndex: number | undefined) =>
      lock.withPermits(1)(Effect.gen(function*() {
        const state = yield* registry.current
        const replay = fromIndex === undefined || fromIndex > state.index
          ? Option.none()
          : yield* registry.changesBetween(fromIndex, state.index)
        const texts = Option.match(replay, {
          onNone: () => [
            eventText(
              subscriber.subscription,
              JSON.stringify({ type: "snapshot", index: state.index, services: visibleEndpoints(state, subscriber.visibility, subscriber.filter) })
            )
          ],
          onSome: (changes) =>
            changes.flatMap(({ change, record }) => {
              const endpoint = toEndpoint(record, subscriber.visibility)
              return endpoint !== undefined && matchesChange(endpoint, subscriber.filter, change.type === "status")
                ? [eventText(subscriber.subscription, changeData(change, endpoint))]
                : []
            })
        })
        for (const text of texts) {
          if (!subscriber.sendText(text)) return yield* subscriber.overflow
        }
        yield* Ref.update(subscribers, (map) => new Map(map).set(subscriber.key, { ...subscriber, after: state.index }))
      }))

    return EndpointBroadcast.of({
      add,
      remove: (key) =>
        Ref.update(subscribers, (map) => {
          const next = new Map(map)
          next.delete(key)
          return next
        })
    })
  })
)
