import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * The platform's Swagger UI page for `api`, on a router of its own. Imported only by the first
 * request for `/docs` (./docs.ts): the page carries megabytes of script and style that a running
 * Miko otherwise never needs.
 */
export const makeDocsRouter = (api: HttpApi.Api["Type"]) =>
  HttpApiBuilder.Router.router.pipe(
    Effect.provide(HttpApiSwagger.layer({ path: "/docs" }).pipe(
      Layer.provideMerge(HttpApiBuilder.Router.Live),
      Layer.provide(Layer.succeed(HttpApi.Api, api))
    ))
  )
