import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { ConfigSnapshot } from "../config/service.js"
import { printJson } from "./format.js"
import { type CliEnvironment, connectionOptions, parseValue, segment, withMiko } from "./shared.js"

const show = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

/** `miko config get|set|reset`: a running Miko's configuration. */
export const configCommand = (environment: CliEnvironment) => {
  const run = withMiko(environment)

  const get = Command.make(
    "get",
    { ...connectionOptions, key: Args.text({ name: "KEY" }).pipe(Args.withDescription("A dotted key such as http.port"), Args.optional) },
    (options) =>
      run(options, (miko) =>
        Option.match(options.key, {
          onNone: () => Effect.flatMap(miko.call((client) => client.config.snapshot()), (snapshot) => printJson(ConfigSnapshot, snapshot)),
          onSome: (key) => Effect.flatMap(miko.call((client) => client.config.get({ path: { key: segment(key) } })), (entry) => show(entry.value))
        }))
  ).pipe(Command.withDescription("Print the effective configuration, or one key's value"))

  const set = Command.make(
    "set",
    {
      ...connectionOptions,
      key: Args.text({ name: "KEY" }),
      value: Args.text({ name: "VALUE" }).pipe(Args.withDescription("JSON (4, true, [\"a\"]) or a plain string"))
    },
    (options) =>
      run(options, (miko) =>
        Effect.flatMap(
          miko.call((client) => client.config.set({ path: { key: segment(options.key) }, payload: { value: parseValue(options.value) } })),
          (entry) =>
            Console.log(
              `${entry.key} = ${JSON.stringify(entry.value)} ` +
                (entry.restartRequired ? "(saved; takes effect after a restart)" : "(applied live)")
            )
        ))
  ).pipe(Command.withDescription("Change a key at runtime; the change is validated, saved and survives restarts"))

  const reset = Command.make(
    "reset",
    { ...connectionOptions, key: Args.text({ name: "KEY" }).pipe(Args.optional) },
    (options) =>
      run(options, (miko) =>
        Option.match(options.key, {
          onNone: () => Effect.zipRight(miko.call((client) => client.config.resetAll()), Console.log("all runtime changes removed")),
          onSome: (key) =>
            Effect.flatMap(
              miko.call((client) => client.config.reset({ path: { key: segment(key) } })),
              (entry) => Console.log(`${entry.key} = ${JSON.stringify(entry.value)} (from ${entry.source})`)
            )
        }))
  ).pipe(Command.withDescription("Remove the runtime change to one key, or all of them"))

  return Command.make("config").pipe(
    Command.withDescription("Read and change a running Miko's configuration"),
    Command.withSubcommands([get, set, reset])
  )
}
