import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as Effect from "effect/Effect"

/**
 * `GET /docs`, the Swagger UI of the API. The page is built on its first request, from a module
 * loaded then, and kept from there on.
 */
export const layerDocsRoute = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const api = yield* HttpApi.Api
    const docs = yield* Effect.cached(Effect.flatMap(Effect.promise(() => import("./docs-page.js")), (page) => page.makeDocsRouter(api)))
    yield* router.get("/docs", Effect.flatten(docs))
  })
)
