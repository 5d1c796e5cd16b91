import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as Schema from "effect/Schema"
import { Forbidden, Unauthorized } from "../auth/errors.js"
import { RequireAdmin } from "../auth/middleware.js"
import { StorageError } from "../storage/errors.js"
import { groupApi } from "../shared/http-api.js"
import { ConfigKeyUnknown, ConfigValueInvalid } from "./errors.js"
import * as Operations from "./operations.js"
import { ConfigEntry, ConfigSnapshot } from "./service.js"

const KeyPath = Schema.Struct({
  key: Schema.String.annotations({ description: "A dotted key such as scheduler.maxRunningTasks" })
})

/** Reading and changing the configuration at runtime; every route needs the admin role. */
export class ConfigApi extends HttpApiGroup.make("config")
  .add(HttpApiEndpoint.get("snapshot", "/v1/config").addSuccess(ConfigSnapshot))
  .add(HttpApiEndpoint.post("resetAll", "/v1/config/reset").addSuccess(ConfigSnapshot).addError(ConfigValueInvalid))
  .add(HttpApiEndpoint.get("get", "/v1/config/:key").setPath(KeyPath).addSuccess(ConfigEntry))
  .add(
    HttpApiEndpoint.put("set", "/v1/config/:key")
      .setPath(KeyPath)
      .setPayload(Schema.Struct({
        value: Schema.Unknown.pipe(
          Schema.filter((value) => value !== undefined, { message: () => "is missing: send {\"value\": <new value>}" })
        ).annotations({ description: "The new value, as in the config file" })
      }))
      .addSuccess(ConfigEntry)
      .addError(ConfigValueInvalid)
  )
  .add(HttpApiEndpoint.del("reset", "/v1/config/:key").setPath(KeyPath).addSuccess(ConfigEntry).addError(ConfigValueInvalid))
  .addError(ConfigKeyUnknown)
  .addError(Unauthorized)
  .addError(Forbidden)
  .addError(StorageError)
  .middleware(RequireAdmin)
{}

export const layerConfigHandlers = HttpApiBuilder.group(groupApi(ConfigApi), "config", (handlers) =>
  handlers
    .handle("snapshot", () => Operations.snapshot)
    .handle("resetAll", () => Operations.resetAll)
    .handle("get", ({ path }) => Operations.getKey(path.key))
    .handle("set", ({ path, payload }) => Operations.setKey(path.key, payload.value))
    .handle("reset", ({ path }) => Operations.resetKey(path.key)))
