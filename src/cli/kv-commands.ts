import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { KvHistory, KvWritten } from "../kv/index.js"
import { CliError } from "./errors.js"
import { cell, instant, table } from "./format.js"
import { type CliEnvironment, connectionOptions, jsonOption, parseValue, withMiko } from "./shared.js"

type History = typeof KvHistory.Type

const keyArg = Args.text({ name: "KEY" }).pipe(Args.withDescription("A key such as billing/db/pool-size"))
const ifVersion = Options.integer("if-version").pipe(
  Options.withDescription("Only when the key is at this version (compare-and-set); exit code 6 otherwise"),
  Options.optional
)
const conditionHeaders = (version: Option.Option<number>) =>
  Option.match(version, { onNone: () => ({}), onSome: (n) => ({ "if-match": String(n) }) })

/** Keys go into the URL as they are: their characters need no escaping, and their slashes must stay. */
const keyPath = { "*": "" } as const

const show = (value: unknown) => Console.log(JSON.stringify(value, null, 2))
const shown = (value: unknown) => (value === undefined ? "(hidden)" : JSON.stringify(value))

const historyTable = (history: History) =>
  table(
    ["VERSION", "WRITTEN", "BY", "VALUE", "COMMENT"],
    history.versions.map((version) => [
      String(version.version),
      instant(version.updatedAt) ?? version.updatedAt,
      version.updatedBy,
      version.deleted ? "(deleted)" : shown(version.value),
      cell(version.comment)
    ])
  )

const describeWrite = (written: typeof KvWritten.Type) => `${written.key} version ${written.version} (index ${written.index})`

/** `miko kv get|put|delete|history|rollback`: application keys of a running Miko, as the token's rules allow. */
export const kvCommand = (environment: CliEnvironment) => {
  const run = withMiko(environment)

  const get = Command.make("get", { ...connectionOptions, json: jsonOption, key: keyArg }, (options) =>
    run(options, (miko) =>
      Effect.gen(function*() {
        const entry = yield* miko.callWith(options.key, (client) => client.kv.get({ path: keyPath, urlParams: {} }))
        if ("versions" in entry) return yield* new CliError({ kind: "unexpected", message: "Miko answered a history" })
        return yield* show(options.json ? entry : entry.value)
      }))).pipe(Command.withDescription("Print a key's value (with --json: its version, who wrote it and when)"))

  const put = Command.make(
    "put",
    {
      ...connectionOptions,
      key: keyArg,
      value: Args.text({ name: "VALUE" }).pipe(Args.withDescription("JSON (4, true, {\"a\": 1}) or a plain string")),
      comment: Options.text("comment").pipe(Options.withDescription("Why, kept in the history"), Options.optional),
      secret: Options.boolean("secret").pipe(Options.withDescription("Hide the value from readers' lists, history and events")),
      ifVersion,
      create: Options.boolean("create").pipe(Options.withDescription("Only when the key does not exist yet; exit code 6 otherwise"))
    },
    (options) =>
      run(options, (miko) =>
        Effect.flatMap(
          miko.callWith(options.key, (client) =>
            client.kv.put({
              path: keyPath,
              headers: { ...conditionHeaders(options.ifVersion), ...(options.create ? { "if-none-match": "*" as const } : {}) },
              payload: {
                value: parseValue(options.value),
                ...Option.match(options.comment, { onNone: () => ({}), onSome: (comment) => ({ comment }) }),
                ...(options.secret ? { secret: true } : {})
              }
            })),
          (written) => Console.log(`wrote ${describeWrite(written)}`)
        ))
  ).pipe(Command.withDescription("Write a key: a new version"))

  const remove = Command.make("delete", { ...connectionOptions, key: keyArg, ifVersion }, (options) =>
    run(options, (miko) =>
      Effect.flatMap(
        miko.callWith(options.key, (client) => client.kv.delete({ path: keyPath, headers: conditionHeaders(options.ifVersion) })),
        (deleted) => Console.log(`deleted ${deleted.key} (version ${deleted.version} is the deletion)`)
      ))).pipe(Command.withDescription("Delete a key; its history stays"))

  const history = Command.make(
    "history",
    {
      ...connectionOptions,
      json: jsonOption,
      key: keyArg,
      limit: Options.integer("limit").pipe(Options.withDescription("How many versions, newest first (default 100)"), Options.optional)
    },
    (options) =>
      run(options, (miko) =>
        Effect.gen(function*() {
          const answer = yield* miko.callWith(`${options.key}/history`, (client) =>
            client.kv.get({ path: keyPath, urlParams: Option.match(options.limit, { onNone: () => ({}), onSome: (limit) => ({ limit }) }) }))
          if (!("versions" in answer)) return yield* new CliError({ kind: "unexpected", message: "Miko answered a value, not a history" })
          return yield* options.json ? show(Schema.encodeSync(KvHistory)(answer)) : Console.log(historyTable(answer))
        }))
  ).pipe(Command.withDescription("The key's kept versions, newest first: who wrote what, when and why"))

  const rollback = Command.make(
    "rollback",
    { ...connectionOptions, key: keyArg, version: Args.integer({ name: "VERSION" }).pipe(Args.withDescription("The version to bring back")), ifVersion },
    (options) =>
      run(options, (miko) =>
        Effect.flatMap(
          miko.callWith(`${options.key}/rollback`, (client) =>
            client.kv.rollback({ path: keyPath, headers: conditionHeaders(options.ifVersion), payload: { version: options.version } })),
          (written) => Console.log(`rolled back to version ${options.version}: wrote ${describeWrite(written)}`)
        ))
  ).pipe(Command.withDescription("Write a new version equal to an older one"))

  return Command.make("kv").pipe(
    Command.withDescription("Read and write application keys of a running Miko"),
    Command.withSubcommands([get, put, remove, history, rollback])
  )
}
