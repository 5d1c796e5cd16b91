import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import v8 from "node:v8"
import { ConfigService } from "../config/service.js"

const mebibytes = 1024 * 1024

const compactGauge = Metric.gauge("miko_process_heap_compact", { description: "1 while the JavaScript heap runs compact (general.heap), 0 while fast" })

/**
 * Where `auto` changes over, with a gap between so that it does not flap: compact up to 48 MiB
 * in use, fast from 96 MiB. A directory of a few thousand endpoints lives well below the first;
 * one of 100,000 well above the second.
 */
const fastFrom = 96 * mebibytes
const compactBelow = 48 * mebibytes

/**
 * Compact also keeps the young generation small: under a burst of requests V8 doubles it up to
 * 32 MiB, and that space stays resident after the burst. It may grow while under `youngCap`
 * (checked with the mode, so one more doubling can pass it), then stays: a few more short
 * collections of what requests leave behind, nearly all of it already dead.
 * (`--max-semi-space-size` is read only when the heap is made; the growth factor at each growth.)
 */
const youngCap = 4 * mebibytes

const youngSize = () => v8.getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_size ?? 0

const growthFactor = (compact: boolean) => compact && youngSize() >= youngCap ? 1 : 2

const applyCompact = (compact: boolean) =>
  Effect.zipRight(
    Effect.sync(() => v8.setFlagsFromString(compact ? "--optimize-for-size" : "--no-optimize-for-size")),
    Metric.set(compactGauge, compact ? 1 : 0)
  )

/**
 * `general.heap`, applied to the process's V8 within a quarter of a second of a change. Compact
 * has V8 collect sooner and hand memory back (its `--optimize-for-size`): resident memory stays
 * near what is live instead of near the last burst's peak, at little cost while the heap is
 * small, because what Miko's requests allocate seldom outlives them. On a large heap every
 * collection has much more to mark: compact would double the cost of a heartbeat at 100,000
 * endpoints (docs/benchmarks.md), so `auto`, the default, turns fast (V8's own defaults) once
 * the heap in use passes `fastFrom`. Only the standalone service applies it; in an embedding
 * app the process, and its V8 flags, are the app's.
 */
export class HeapMode extends Context.Tag("miko/telemetry/HeapMode")<HeapMode, {
  /** Called once the directory is in memory: follows the setting and the heap from then on. */
  readonly settle: Effect.Effect<void>
}>() {}

export const layerHeapMode: Layer.Layer<HeapMode, never, ConfigService> = Layer.scoped(
  HeapMode,
  Effect.gen(function*() {
    const config = yield* ConfigService
    const scope = yield* Effect.scope
    // The binary starts compact (bin/miko.js): a heap grown while starting stays grown. The
    // directory loads next (this layer is built before it), and a large one would take twice as
    // long to load compact: `auto` loads it fast, and turns compact at `settle` if the heap is small.
    let compact = (yield* config.current).general.heap === "compact"
    // Unknown until set here: the binary starts with the young generation held.
    let factor = 0
    const followYoung = Effect.sync(() => {
      const wanted = growthFactor(compact)
      if (wanted !== factor) v8.setFlagsFromString(`--semi-space-growth-factor=${(factor = wanted)}`)
    })
    yield* Effect.zipRight(applyCompact(compact), followYoung)
    const follow = Effect.flatMap(config.current, ({ general }) => {
      const used = v8.getHeapStatistics().used_heap_size
      const wanted = general.heap === "compact" || (general.heap === "auto" && used < (compact ? fastFrom : compactBelow))
      if (wanted === compact) return followYoung
      compact = wanted
      return Effect.zipRight(applyCompact(wanted), followYoung)
    })
    const watch = Effect.sleep("250 millis").pipe(Effect.zipRight(follow), Effect.forever)
    return HeapMode.of({ settle: Effect.zipRight(follow, Effect.asVoid(Effect.forkIn(watch, scope))) })
  })
)

/** Settles the heap's mode once the layers below (the directory among them) are built. */
export const layerHeapSettled: Layer.Layer<never, never, HeapMode> = Layer.effectDiscard(Effect.flatMap(HeapMode, (heap) => heap.settle))
