import * as HttpApi from "@effect/platform/HttpApi"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"

/**
 * An api holding one capability's group. Handlers are built against it; since it shares the
 * id of the full Miko api, the handler layer satisfies that api (or an embedder's that adds
 * the same group) without the capability knowing about the others.
 */
export const groupApi = <Group extends HttpApiGroup.HttpApiGroup.Any>(group: Group) => HttpApi.make("miko").add(group)
