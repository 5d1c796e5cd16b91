import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { version } from "../version.js"
import { request, resolveTarget, type Target } from "./client.js"

/** What the commands need from the process, passed in so they stay testable. */
export interface CliEnvironment {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd: string
  readonly home?: string | undefined
  /** Runs the service until it is told to stop. */
  readonly serve: (configPath: Option.Option<string>) => Effect.Effect<void, unknown>
}

const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("Config file (YAML or JSON); otherwise MIKO_CONFIG, ./config.yaml, ~/.config/miko/config.yaml, /etc/miko/config.yaml"),
  Options.optional
)
const addressOption = Options.text("address").pipe(
  Options.withDescription("Miko's URL, e.g. http://127.0.0.1:8740 (default: MIKO_ADDRESS, else the local config)"),
  Options.optional
)
const tokenOption = Options.text("token").pipe(
  Options.withDescription("Bearer token (default: MIKO_TOKEN, else <dataDir>/admin-token)"),
  Options.optional
)

const parseValue = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

const show = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

export const makeCli = (environment: CliEnvironment) => {
  const withTarget = <A, E, R>(
    options: { readonly address: Option.Option<string>; readonly token: Option.Option<string>; readonly config: Option.Option<string> },
    use: (target: Target) => Effect.Effect<A, E, R>
  ) =>
    Effect.flatMap(
      resolveTarget({
        address: options.address,
        token: options.token,
        configPath: options.config,
        env: environment.env,
        cwd: environment.cwd,
        home: environment.home
      }),
      use
    )

  const clientOptions = { address: addressOption, token: tokenOption, config: configOption }

  const serve = Command.make("serve", { config: configOption }, ({ config }) => environment.serve(config)).pipe(
    Command.withDescription("Run Miko: the HTTP API on http.host:http.port with state in general.dataDir")
  )

  const get = Command.make(
    "get",
    { ...clientOptions, key: Args.text({ name: "KEY" }).pipe(Args.withDescription("A dotted key such as http.port"), Args.optional) },
    (options) =>
      withTarget(options, (target) =>
        Option.match(options.key, {
          onNone: () => Effect.flatMap(request(target, "GET", "/v1/config"), show),
          onSome: (key) =>
            Effect.flatMap(request(target, "GET", `/v1/config/${encodeURIComponent(key)}`), (entry) =>
              show((entry as { value: unknown }).value))
        }))
  ).pipe(Command.withDescription("Print the effective configuration, or one key's value"))

  const set = Command.make(
    "set",
    {
      ...clientOptions,
      key: Args.text({ name: "KEY" }),
      value: Args.text({ name: "VALUE" }).pipe(Args.withDescription("JSON (4, true, [\"a\"]) or a plain string"))
    },
    (options) =>
      withTarget(options, (target) =>
        Effect.flatMap(
          request(target, "PUT", `/v1/config/${encodeURIComponent(options.key)}`, { value: parseValue(options.value) }),
          (answer) => {
            const entry = answer as { key: string; value: unknown; restartRequired: boolean }
            return Console.log(
              `${entry.key} = ${JSON.stringify(entry.value)} ` +
                (entry.restartRequired ? "(saved; takes effect after a restart)" : "(applied live)")
            )
          }
        ))
  ).pipe(Command.withDescription("Change a key at runtime; the change is validated, saved and survives restarts"))

  const reset = Command.make(
    "reset",
    { ...clientOptions, key: Args.text({ name: "KEY" }).pipe(Args.optional) },
    (options) =>
      withTarget(options, (target) =>
        Option.match(options.key, {
          onNone: () => Effect.zipRight(request(target, "POST", "/v1/config/reset"), Console.log("all runtime changes removed")),
          onSome: (key) =>
            Effect.flatMap(request(target, "DELETE", `/v1/config/${encodeURIComponent(key)}`), (answer) => {
              const entry = answer as { key: string; value: unknown; source: string }
              return Console.log(`${entry.key} = ${JSON.stringify(entry.value)} (from ${entry.source})`)
            })
        }))
  ).pipe(Command.withDescription("Remove the runtime change to one key, or all of them"))

  const config = Command.make("config").pipe(
    Command.withDescription("Read and change a running Miko's configuration"),
    Command.withSubcommands([get, set, reset])
  )

  const versionCommand = Command.make("version", {}, () => Console.log(version)).pipe(
    Command.withDescription("Print the version")
  )

  const miko = Command.make("miko").pipe(
    Command.withDescription("Miko: service directory and runtime"),
    Command.withSubcommands([serve, config, versionCommand])
  )

  return Command.run(miko, { name: "miko", version })
}
