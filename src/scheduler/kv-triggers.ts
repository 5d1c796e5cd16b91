import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Kv } from "../kv/service.js"
import { Scheduler } from "./service.js"

/**
 * The scheduler's `kvChanged` triggers, fed by the application keys: every change committed
 * on any replica, as this replica applies it, in index order. Kept out of `Scheduler.layer`
 * so that a scheduler without keys (an embedder's) needs none.
 */
export const layerKvTriggers: Layer.Layer<never, never, Scheduler | Kv> = Layer.scopedDiscard(
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const kv = yield* Kv
    // From the next change on: changes made before the start are not fired again.
    yield* kv.watch("", Number.MAX_SAFE_INTEGER).pipe(
      Stream.runForEach((version) =>
        scheduler.fireKeyChange({ key: version.key, version: version.version, index: version.index, deleted: version.deleted })),
      Effect.forkScoped
    )
  })
)
