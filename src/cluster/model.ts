import * as Schema from "effect/Schema"

/** One replica as `GET /v1/cluster` lists it. */
export const ReplicaStatus = Schema.Struct({
  id: Schema.String,
  address: Schema.String.annotations({ description: "Host name and process id" }),
  startedAt: Schema.Number.annotations({ description: "Start time, milliseconds since the epoch" }),
  silentFor: Schema.Number.annotations({ description: "Milliseconds since the replica last checked in" }),
  leader: Schema.Boolean,
  live: Schema.Boolean.annotations({ description: "Checked in within cluster.leaseTime; a replica that stopped without saying so is listed for an hour" })
}).annotations({ identifier: "ReplicaStatus" })
export type ReplicaStatus = typeof ReplicaStatus.Type
