import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type { ConfigService } from "../config/service.js"
import type { PriorityPermits } from "./permits.js"
import type { Recorder } from "./recorder.js"
import type { TaskTable } from "./table.js"
import type { Timeline } from "./timeline.js"

/**
 * Controlled shutdown: triggers stop and queued runs are refused at once; running attempts get
 * up to `general.shutdownTimeout` to finish, then are interrupted and recorded `interrupted`;
 * the record is written before storage closes. Cached: whoever comes second (the release, after
 * the standalone service started it on the signal) waits for the first run instead of a second.
 */
export const makeShutdown = (table: TaskTable, deps: {
  readonly config: ConfigService["Type"]
  readonly permits: PriorityPermits
  readonly recorder: Recorder
  readonly timeline: Timeline
}): Effect.Effect<Effect.Effect<void>> => {
  const { config, permits, recorder, timeline } = deps
  return Effect.cached(Effect.gen(function*() {
    yield* Ref.set(table.stopping, true)
    const entries = Array.from(HashMap.values(yield* Ref.get(table.tasks)))
    yield* timeline.stop
    yield* permits.close
    const { running } = yield* permits.counts
    if (running > 0) {
      const timeout = (yield* config.current).general.shutdownTimeout
      yield* Effect.logInfo(`waiting up to ${Duration.format(timeout)} for ${running} running task(s)`)
      // Finalizers run uninterruptibly; the wait must be interruptible for the timeout to end it.
      const drained = yield* Effect.timeoutOption(Effect.interruptible(permits.awaitIdle), timeout)
      if (Option.isNone(drained)) {
        const left = (yield* permits.counts).running
        yield* Effect.logWarning(`interrupting ${left} task(s) still running after general.shutdownTimeout`)
      }
    }
    yield* Effect.forEach(entries, (entry) => Scope.close(entry.scope, Exit.void), { concurrency: "unbounded", discard: true })
    yield* Scope.close(table.backgroundScope, Exit.void)
    yield* recorder.flush
  }))
}
