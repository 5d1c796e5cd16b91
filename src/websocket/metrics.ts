import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"

/** WebSocket connections open now. */
export const connections = Metric.gauge("miko_websocket_connections", { description: "WebSocket connections open now" })

const topics = ["endpoints", "config", "tasks", "kv"] as const

const subscriptions = Metric.gauge("miko_websocket_subscriptions", { description: "WebSocket subscriptions running now, by topic (endpoints, config, tasks, kv)" })

/** The gauge of `topic`'s subscriptions. */
export const subscriptionGauge = (topic: typeof topics[number]) => Metric.tagged(subscriptions, "topic", topic)

/** Counts a subscription of `topic` while `run` runs. */
export const asSubscription = (topic: typeof topics[number]) => {
  const gauge = subscriptionGauge(topic)
  return <A, E, R>(run: Effect.Effect<A, E, R>) =>
    Effect.acquireUseRelease(Metric.increment(gauge), () => run, () => Metric.incrementBy(gauge, -1))
}

/** Every series at zero, so that a scrape shows them before the first connection. */
export const initialize = Effect.all([Metric.value(connections), ...topics.map((topic) => Metric.value(Metric.tagged(subscriptions, "topic", topic)))], {
  discard: true
})
