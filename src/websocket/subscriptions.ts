import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { requireRole } from "../auth/caller.js"
import { ConfigService, redactedConfig } from "../config/service.js"
import type { EndpointFilter } from "../registry/model.js"
import { EndpointBroadcast } from "./broadcast.js"
import { KvOperations } from "../kv/index.js"
import * as RegistryOperations from "../registry/operations.js"
import { ExecutionChange } from "../scheduler/model.js"
import { Scheduler } from "../scheduler/service.js"
import type { Connection } from "./connection.js"
import { asSubscription, subscriptionGauge } from "./metrics.js"
import { TooManySubscriptions } from "./errors.js"
import type { SubscribeArgs } from "./protocol.js"

const encodeExecutionChange = Schema.encodeSync(ExecutionChange)

/** Fails when the connection already holds `websocket.maxSubscriptions` subscriptions. */
const withinSubscriptionLimit = (connection: Connection) =>
  Effect.gen(function*() {
    const { maxSubscriptions } = (yield* (yield* ConfigService).current).websocket
    if ((yield* connection.subscriptions.size) >= maxSubscriptions) {
      return yield* new TooManySubscriptions({ message: `at most ${maxSubscriptions} subscriptions per connection (websocket.maxSubscriptions)` })
    }
  })

const startStream = (connection: Connection, topic: "endpoints" | "config" | "tasks" | "kv", events: Stream.Stream<unknown>) =>
  Effect.gen(function*() {
    yield* withinSubscriptionLimit(connection)
    const subscription = yield* connection.nextSubscriptionId
    // The answer with the subscription id goes out first; the stream starts once it has.
    const answered = yield* Deferred.make<void>()
    const run = Effect.zipRight(
      Deferred.await(answered),
      Stream.runForEach(events, (data) => connection.send({ type: "event", topic, subscription, data }))
    )
    yield* connection.subscriptions.fork(subscription, asSubscription(topic)(run))
    return { data: { subscription }, afterReply: Deferred.succeed(answered, undefined) }
  })

/** Starts a subscription; the answer carries its id, then its events follow in order. */
export const subscribe = (connection: Connection, args: SubscribeArgs) =>
  Effect.gen(function*() {
    switch (args.topic) {
      case "endpoints": {
        const visibility = yield* RegistryOperations.visibility
        const broadcast = yield* EndpointBroadcast
        yield* withinSubscriptionLimit(connection)
        const f = args.filter
        const filter: EndpointFilter = {
          services: f?.service === undefined ? undefined : typeof f.service === "string" ? [f.service] : f.service,
          tag: f?.tag,
          zone: f?.zone,
          status: f?.status
        }
        const subscription = yield* connection.nextSubscriptionId
        const key = `${connection.id}/${subscription}`
        // A member of the broadcast until unsubscribed or closed: the broadcast writes to the socket itself.
        const gauge = subscriptionGauge("endpoints")
        yield* Metric.increment(gauge)
        yield* connection.subscriptions.hold(subscription, Effect.zipRight(broadcast.remove(key), Metric.incrementBy(gauge, -1)))
        const join = broadcast.add(
          { key, subscription, filter, visibility, sendText: connection.sendText, sendFrame: connection.sendFrame, overflow: connection.overflow },
          args.index
        )
        return { data: { subscription }, afterReply: join }
      }
      case "config": {
        yield* requireRole("admin")
        const config = yield* ConfigService
        return yield* startStream(connection, "config", Stream.map(config.changes, (c) => ({ config: redactedConfig(c) })))
      }
      case "kv": {
        const events = yield* KvOperations.watchKeys(args.prefix, args.index ?? Number.MAX_SAFE_INTEGER)
        return yield* startStream(connection, "kv", events)
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
