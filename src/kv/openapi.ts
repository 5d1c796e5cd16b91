/**
 * The router matches keys, which contain slashes, with one wildcard route per method
 * (`/v1/kv/*`), the history and rollback routes being a key's last segment. `/openapi.json`
 * describes them as the routes they are: `/v1/kv/{key}`, `/v1/kv/{key}/history` and
 * `/v1/kv/{key}/rollback`, each with its own parameters and answer.
 */

interface Parameter {
  readonly name: string
  readonly in: string
}

interface Operation {
  readonly operationId?: string
  readonly parameters?: ReadonlyArray<Parameter>
  readonly responses?: Record<string, { readonly content?: Record<string, { readonly schema?: unknown }> }>
}

type PathItem = Record<string, Operation>

const keyParameter = {
  name: "key",
  in: "path",
  required: true,
  schema: { type: "string", pattern: "^[A-Za-z0-9._-]{1,128}(/[A-Za-z0-9._-]{1,128}){0,15}$", maxLength: 512 },
  description: "A key such as billing/db/pool-size: 1-16 segments of A-Z a-z 0-9 . _ - joined by /; its slashes are sent as they are"
}

/** `operation` on a path with `{key}`: the wildcard parameter replaced, only the query parameters named kept. */
const onKey = (operation: Operation, changes: { readonly operationId?: string; readonly query?: ReadonlyArray<string>; readonly answer?: string }): Operation => {
  const parameters = (operation.parameters ?? []).filter((parameter) =>
    parameter.name !== "*" && (parameter.in !== "query" || changes.query === undefined || changes.query.includes(parameter.name)))
  const responses = changes.answer === undefined ? operation.responses : {
    ...operation.responses,
    "200": { description: changes.answer, content: { "application/json": { schema: { $ref: `#/components/schemas/${changes.answer}` } } } }
  }
  return {
    ...operation,
    ...(changes.operationId === undefined ? {} : { operationId: changes.operationId }),
    parameters: [keyParameter, ...parameters],
    ...(responses === undefined ? {} : { responses })
  }
}

/** Rewrites the wildcard route of `spec` into the key routes. */
export const documentKeyRoutes = <Spec extends Record<string, unknown>>(spec: Spec): Spec => {
  const paths = spec["paths"] as Record<string, PathItem> | undefined
  const wildcard = paths?.["/v1/kv/*"]
  if (paths === undefined || wildcard === undefined) return spec
  const { "/v1/kv/*": _, ...others } = paths
  const keyRoutes: Record<string, PathItem> = {
    "/v1/kv/{key}": {
      ...(wildcard["get"] === undefined ? {} : { get: onKey(wildcard["get"], { query: ["index", "wait"], answer: "KvEntry" }) }),
      ...(wildcard["put"] === undefined ? {} : { put: onKey(wildcard["put"], {}) }),
      ...(wildcard["delete"] === undefined ? {} : { delete: onKey(wildcard["delete"], {}) })
    },
    "/v1/kv/{key}/history": wildcard["get"] === undefined ? {} : {
      get: onKey(wildcard["get"], { operationId: "kv.history", query: ["limit"], answer: "KvHistory" })
    },
    "/v1/kv/{key}/rollback": wildcard["post"] === undefined ? {} : { post: onKey(wildcard["post"], {}) }
  }
  return { ...spec, paths: { ...others, ...keyRoutes } }
}
