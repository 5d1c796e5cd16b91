import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { requireRole } from "../auth/caller.js"
import { Forbidden, Unauthorized } from "../auth/errors.js"
import { RequireAdmin } from "../auth/middleware.js"
import { groupApi } from "../shared/http-api.js"
import { StorageError } from "../storage/errors.js"
import { ReplicaStatus } from "./model.js"
import { Cluster } from "./service.js"

export const ClusterStatus = Schema.Struct({
  replica: Schema.String.annotations({ description: "The replica that answered" }),
  leader: Schema.NullOr(Schema.String).annotations({ description: "The replica holding the leader lease, if any" }),
  replicas: Schema.Array(ReplicaStatus)
}).annotations({ identifier: "ClusterStatus" })

/** Which replicas share the database and which one leads; admin role. */
export class ClusterApi extends HttpApiGroup.make("cluster")
  .add(HttpApiEndpoint.get("status", "/v1/cluster").addSuccess(ClusterStatus))
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(StorageError)
  .middleware(RequireAdmin)
{}

export const status = Effect.zipRight(
  requireRole("admin"),
  Effect.flatMap(Cluster, (cluster) =>
    Effect.map(cluster.status, (s) => ({ replica: s.replica, leader: s.leader ?? null, replicas: s.replicas })))
)

export const layerClusterHandlers = HttpApiBuilder.group(groupApi(ClusterApi), "cluster", (handlers) =>
  handlers.handle("status", () => status))
