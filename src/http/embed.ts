import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import { layerApi } from "./server.js"

/**
 * Miko's whole HTTP API as an `HttpApp`, for an embedder to mount inside its own server, e.g.
 * `HttpRouter.mount("/miko", app)` serves the endpoint list at `/miko/v1/endpoints`.
 */
export class MikoHttpApp extends Context.Tag("miko/http/MikoHttpApp")<
  MikoHttpApp,
  HttpApp.Default<never, HttpRouter.HttpRouter.DefaultServices>
>() {}

export const layerHttpApp = Layer.effect(MikoHttpApp, HttpApiBuilder.httpApp).pipe(
  Layer.provide(layerApi),
  Layer.provide([HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer])
)
