import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import type { MikoConfig } from "../config/schema.js"
import { ConfigService } from "../config/service.js"

const levels: Record<MikoConfig["general"]["logLevel"], LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error
}

const base = (format: MikoConfig["general"]["logFormat"]) =>
  format === "json" ? Logger.withConsoleLog(Logger.jsonLogger) : Logger.prettyLogger({ colors: "auto" })

/**
 * The process logger in the configured format. The level follows `general.logLevel` live:
 * the logger reads it on every line, so fibers already running see a change too.
 */
export const layerLogger: Layer.Layer<never, never, ConfigService> = Layer.unwrapScoped(
  Effect.gen(function*() {
    const config = yield* ConfigService
    const initial = yield* config.current
    const threshold = { level: levels[initial.general.logLevel] }
    yield* config.changes.pipe(
      Stream.runForEach((next) => Effect.sync(() => (threshold.level = levels[next.general.logLevel]))),
      Effect.forkScoped
    )
    const logger = Logger.filterLogLevel(base(initial.general.logFormat), (level) => LogLevel.greaterThanEqual(level, threshold.level))
    return Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(LogLevel.Debug))
  })
)
