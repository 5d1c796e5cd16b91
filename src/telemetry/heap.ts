import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import v8 from "node:v8"
import { ConfigService } from "../config/service.js"

/**
 * `general.heap`, applied to the process's V8 live. `compact` has V8 collect sooner and hand
 * memory back (its `--optimize-for-size`): what Miko's requests allocate seldom outlives them,
 * so a small heap costs them little, and resident memory stays near what is live instead of
 * near the last burst's peak (docs/benchmarks.md). `fast` is V8's own default: a larger heap,
 * collected less often. Only the standalone service applies it; in an embedding app the
 * process, and its V8 flags, are the app's.
 */
export const layerHeapMode: Layer.Layer<never, never, ConfigService> = Layer.scopedDiscard(
  Effect.flatMap(ConfigService, (config) =>
    config.changes.pipe(
      Stream.map((next) => next.general.heap),
      Stream.changes,
      Stream.runForEach((mode) => Effect.sync(() => v8.setFlagsFromString(mode === "compact" ? "--optimize-for-size" : "--no-optimize-for-size"))),
      Effect.forkScoped
    ))
)
