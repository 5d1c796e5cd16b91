import { createClient, MikoClient } from "../../src/sdk/index.js"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const promiseExample = async () => {
  const miko = createClient({ address: "http://127.0.0.1:8740" })
  const response = await miko.fetch("http://hanami/orders/7")
  console.log(await response.json())
  await miko.close()
}

const program = Effect.gen(function*() {
  const http = yield* HttpClient.HttpClient
  const order = yield* Effect.flatMap(http.get("http://hanami/orders/7"), (r) => r.json)
  const endpoint = yield* MikoClient.pick("hanami")
  yield* MikoClient.register("billing", { publicAddress: "http://10.0.0.7:8080" }, "15s")
  return [order, endpoint]
})

export const effectExample = () => program.pipe(
  Effect.scoped,
  Effect.provide(MikoClient.layerHttpClient.pipe(Layer.provideMerge(MikoClient.layer({ address: "http://127.0.0.1:8740" })))),
  Effect.runPromise
)
