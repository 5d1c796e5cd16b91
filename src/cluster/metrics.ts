import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import { MetricsCollection } from "../telemetry/metrics.js"
import { Cluster } from "./service.js"

const leader = Metric.gauge("miko_cluster_leader", { description: "1 while this replica holds the leader lease, else 0" })
const replicas = Metric.gauge("miko_cluster_replicas", { description: "Replicas that checked in within cluster.leaseTime, this one included" })

/** Leadership and the live replicas, read when a collection asks; while the database is away the last count stands. */
export const layerMetrics: Layer.Layer<never, never, Cluster | MetricsCollection> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const cluster = yield* Cluster
    const collection = yield* MetricsCollection
    yield* collection.observe(Effect.gen(function*() {
      yield* Metric.set(leader, (yield* cluster.isLeader) ? 1 : 0)
      const live = yield* Effect.option(cluster.liveReplicas)
      if (Option.isSome(live)) yield* Metric.set(replicas, live.value.size)
    }))
  })
)
