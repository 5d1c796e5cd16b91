import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { apiErrorAnnotations } from "../shared/api-error.js"
import { groupApi } from "../shared/http-api.js"
import { version } from "../shared/version.js"
import { Lifecycle } from "../lifecycle/index.js"

export class NotReady extends Schema.TaggedError<NotReady>()(
  "NotReady",
  { message: Schema.String },
  apiErrorAnnotations(503)
) {}

const Health = Schema.Struct({ status: Schema.Literal("ok"), version: Schema.String })
const Ready = Schema.Struct({ status: Schema.Literal("ready") })

/** Liveness and readiness, for probes and load balancers. */
export class SystemApi extends HttpApiGroup.make("system")
  .add(HttpApiEndpoint.get("healthz", "/healthz").addSuccess(Health))
  .add(HttpApiEndpoint.get("readyz", "/readyz").addSuccess(Ready).addError(NotReady))
{}

export const layerSystemHandlers = HttpApiBuilder.group(groupApi(SystemApi), "system", (handlers) =>
  Effect.gen(function*() {
    const lifecycle = yield* Lifecycle
    const sql = yield* SqlClient.SqlClient
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const, version }))
      .handle("readyz", () =>
        Effect.gen(function*() {
          if (yield* lifecycle.isShuttingDown) return yield* new NotReady({ message: "shutting down" })
          yield* sql`SELECT 1`.pipe(
            Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new NotReady({ message: "storage did not answer in time" }) }),
            Effect.catchTag("SqlError", (error) => new NotReady({ message: `storage unavailable: ${error.message}` }))
          )
          return { status: "ready" as const }
        }))
  }))
