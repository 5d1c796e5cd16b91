import * as Options from "@effect/cli/Options"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Rec from "effect/Record"
import type { Environment } from "../shared/environment.js"
import type { CliError } from "./errors.js"
import { resolveTarget } from "./target.js"
import { connect, type Miko } from "./transport.js"

/**
 * What the commands need from the process, passed in so they stay testable; its variables
 * (`MIKO_ADDRESS`, `MIKO_TOKEN`, the config search) come from the `Environment` service.
 */
export interface CliEnvironment {
  readonly cwd: string
  readonly home?: string | undefined
  /** Runs the service until it is told to stop. */
  readonly serve: (configPath: Option.Option<string>) => Effect.Effect<void, unknown, Environment>
}

export const configOption = Options.file("config").pipe(
  Options.withAlias("c"),
  Options.withDescription("Config file (YAML or JSON); otherwise MIKO_CONFIG, ./config.yaml, ~/.config/miko/config.yaml, /etc/miko/config.yaml"),
  Options.optional
)

/** The options of every command that talks to a running Miko. */
export const connectionOptions = {
  address: Options.text("address").pipe(
    Options.withDescription("Miko's URL, e.g. http://127.0.0.1:8740 (default: MIKO_ADDRESS, else the local config)"),
    Options.optional
  ),
  token: Options.text("token").pipe(
    Options.withDescription("Bearer token (default: MIKO_TOKEN, else <dataDir>/admin-token)"),
    Options.optional
  ),
  config: configOption
}

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Print the answer as JSON, for scripts"))

export interface ConnectionOptions {
  readonly address: Option.Option<string>
  readonly token: Option.Option<string>
  readonly config: Option.Option<string>
}

/** Runs `use` against the Miko the options (or the environment, or the local config) point at. */
export const withMiko = (environment: CliEnvironment) =>
<A, R>(
  options: ConnectionOptions,
  use: (miko: Miko) => Effect.Effect<A, CliError, R>
): Effect.Effect<A, CliError, R | FileSystem.FileSystem | Environment> =>
  resolveTarget({
    address: options.address,
    token: options.token,
    configPath: options.config,
    cwd: environment.cwd,
    home: environment.home
  }).pipe(Effect.flatMap(connect), Effect.flatMap(use))

/** `{ key: value }` when the option holds a value, else `{}`: optional fields are absent, never undefined. */
export const present = <K extends string, A>(key: K, option: Option.Option<A>): Partial<Record<K, A>> =>
  Option.isSome(option) ? Rec.singleton(key, option.value) : {}

/**
 * A path parameter as it goes into the URL: the typed client puts it in as given, so
 * anything outside a path segment's characters is escaped here. ":" stays, as in task ids
 * such as `config:nightly`, which the API's own schemas expect unescaped.
 */
export const segment = (text: string): string => encodeURIComponent(text).replace(/%3A/gi, ":")

/** A value typed on the command line: JSON when the text is JSON, so that `4` and `true` keep their types; else the text. */
export const parseValue = (text: string): {} | null => {
  try {
    const parsed: unknown = JSON.parse(text)
    // JSON never parses to undefined; the check tells the compiler so, for the payload's type.
    return parsed === undefined ? null : parsed
  } catch {
    return text
  }
}
