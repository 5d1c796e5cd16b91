import * as HttpApi from "@effect/platform/HttpApi"
import * as OpenApi from "@effect/platform/OpenApi"
import { ClusterApi } from "../cluster/http.js"
import { ConfigApi } from "../config/http.js"
import { KvApi } from "../kv/http.js"
import { documentKeyRoutes } from "../kv/openapi.js"
import { RegistryApi } from "../registry/http.js"
import { SchedulerApi } from "../scheduler/http.js"
import { version } from "../shared/version.js"
import { SystemApi } from "./system.js"

/** The whole HTTP API: one definition for the server, `/openapi.json` and `/docs`. */
export class MikoApi extends HttpApi.make("miko")
  .add(SystemApi)
  .add(ConfigApi)
  .add(RegistryApi)
  .add(SchedulerApi)
  .add(ClusterApi)
  .add(KvApi)
  .annotateContext(OpenApi.annotations({
    title: "Miko",
    version,
    description: "Service directory and runtime: endpoints, configuration, application keys and background tasks.",
    transform: documentKeyRoutes
  }))
{}
