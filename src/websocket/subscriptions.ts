import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { requireRole } from "../auth/caller.js"
import { ConfigService, redactedConfig } from "../config/service.js"
import type { Endpoint, EndpointFilter, Visibility } from "../registry/model.js"
import * as RegistryOperations from "../registry/operations.js"
import { toEndpoint } from "../registry/record.js"
import { Registry, type RegistryEvent } from "../registry/service.js"
import { ExecutionChange } from "../scheduler/model.js"
import { Scheduler } from "../scheduler/service.js"
import { visibleEndpoints } from "../registry/view.js"
import type { Connection } from "./connection.js"
import { TooManySubscriptions } from "./errors.js"
import type { SubscribeArgs } from "./protocol.js"

const matchesChange = (endpoint: Endpoint, filter: EndpointFilter, statusChange: boolean) =>
  (filter.services === undefined || filter.services.length === 0 || filter.services.includes(endpoint.service)) &&
  (filter.tag === undefined || endpoint.tags.includes(filter.tag)) &&
  (filter.zone === undefined || endpoint.zone === filter.zone) &&
  // A status change is sent even when it leaves the filtered status, so the client sees the endpoint go.
  (filter.status === undefined || statusChange || endpoint.status === filter.status)

/** Registry events as a caller may see them: snapshots filtered, changes to invisible endpoints left out. */
const endpointEventData = (event: RegistryEvent, visibility: Visibility, filter: EndpointFilter) => {
  if (event._tag === "Snapshot") {
    return { type: "snapshot", index: event.state.index, services: visibleEndpoints(event.state.records, visibility, filter) }
  }
  const endpoint = toEndpoint(event.record, visibility)
  if (endpoint === undefined || !matchesChange(endpoint, filter, event.change.type === "status")) return undefined
  return { type: event.change.type, index: event.change.index, service: event.change.service, endpointId: event.change.endpointId, endpoint }
}

const encodeExecutionChange = Schema.encodeSync(ExecutionChange)

const startStream = (connection: Connection, topic: "endpoints" | "config" | "tasks", events: Stream.Stream<unknown>) =>
  Effect.gen(function*() {
    const config = yield* ConfigService
    const { maxSubscriptions } = (yield* config.current).websocket
    if ((yield* FiberMap.size(connection.subscriptions)) >= maxSubscriptions) {
      return yield* new TooManySubscriptions({ message: `at most ${maxSubscriptions} subscriptions per connection (websocket.maxSubscriptions)` })
    }
    const subscription = yield* connection.nextSubscriptionId
    // The answer with the subscription id goes out first; the stream starts once it has.
    const answered = yield* Deferred.make<void>()
    const run = Effect.zipRight(
      Deferred.await(answered),
      Stream.runForEach(events, (data) => connection.send({ type: "event", topic, subscription, data }))
    )
    yield* FiberMap.run(connection.subscriptions, subscription, run, { onlyIfMissing: true })
    return { data: { subscription }, afterReply: Deferred.succeed(answered, undefined) }
  })

/** Starts a subscription; the answer carries its id, then its events follow in order. */
export const subscribe = (connection: Connection, args: SubscribeArgs) =>
  Effect.gen(function*() {
    switch (args.topic) {
      case "endpoints": {
        const visibility = yield* RegistryOperations.visibility
        const registry = yield* Registry
        const f = args.filter
        const filter: EndpointFilter = {
          services: f?.service === undefined ? undefined : typeof f.service === "string" ? [f.service] : f.service,
          tag: f?.tag,
          zone: f?.zone,
          status: f?.status
        }
        const events = registry.watch(args.index).pipe(
          Stream.map((event) => endpointEventData(event, visibility, filter)),
          Stream.filter((data) => data !== undefined)
        )
        return yield* startStream(connection, "endpoints", events)
      }
      case "config": {
        yield* requireRole("admin")
        const config = yield* ConfigService
        return yield* startStream(connection, "config", Stream.map(config.changes, (c) => ({ config: redactedConfig(c) })))
      }
      case "tasks": {
        yield* requireRole("admin")
        const scheduler = yield* Scheduler
        const taskId = args.taskId
        const executions = taskId === undefined ? scheduler.changes : Stream.filter(scheduler.changes, (change) => change.execution.taskId === taskId)
        return yield* startStream(connection, "tasks", Stream.map(executions, encodeExecutionChange))
      }
    }
  })
