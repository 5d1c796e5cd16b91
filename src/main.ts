import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { makeCli } from "./cli/commands.js"
import { CliError, exitCodes } from "./cli/errors.js"
import { runService } from "./service.js"
import { Environment } from "./shared/environment.js"

/**
 * Exit codes: a CLI command's failure says what failed (`exitCodes`, listed in README.md); 2 for
 * configuration a person must fix; 1 for any other failure.
 */
const exitCodeOf = (cause: Cause.Cause<unknown>): number =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => exitCodes.unexpected,
    onSome: (error) => {
      if (error instanceof CliError) return exitCodes[error.kind]
      return Predicate.isTagged(error, "ConfigLoadError")
        ? exitCodes.invalid
        : exitCodes.unexpected
    }
  })

const describe = (cause: Cause.Cause<unknown>): string =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.pretty(cause),
    onSome: (error) => {
      if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string") {
        const tag = Predicate.isTagged(error, "ConfigLoadError") ? "invalid configuration:\n" : ""
        return `miko: ${tag}${error.message}`
      }
      return `miko: ${String(error)}`
    }
  })

const home = process.env["HOME"]
const cli = makeCli({
  cwd: process.cwd(),
  home,
  serve: (configPath) =>
    runService(
      { configPath: Option.getOrUndefined(configPath), cwd: process.cwd(), home },
      Effect.sync(() => {
        process.stderr.write("miko: shutdown took longer than general.shutdownTimeout; exiting\n")
        process.exit(1)
      })
    )
})

// The process environment, provided once for every command and the service `serve` runs.
const program = cli(process.argv).pipe(Effect.provide(Layer.merge(NodeContext.layer, Environment.layerProcess)))
const fiber = Effect.runFork(program)

// The first SIGTERM/SIGINT starts a controlled shutdown; a second one exits at once.
let signalled = false
const onSignal = () => {
  if (signalled) process.exit(130)
  signalled = true
  Effect.runFork(Fiber.interrupt(fiber))
}
process.on("SIGTERM", onSignal)
process.on("SIGINT", onSignal)

fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit) || Exit.isInterrupted(exit)) {
    process.exit(0)
  }
  const cause = exit.cause
  // @effect/cli has already printed its own usage errors.
  const failure = Cause.failureOption(cause)
  const isUsage = Option.isSome(failure) && ValidationError.isValidationError(failure.value)
  if (!isUsage) process.stderr.write(describe(cause) + "\n")
  process.exit(isUsage ? 2 : exitCodeOf(cause))
})
