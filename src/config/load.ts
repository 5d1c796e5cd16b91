import * as FileSystem from "@effect/platform/FileSystem"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { Environment, type EnvironmentNeeded, type EnvironmentVariables, provideEnvironment } from "../shared/environment.js"
import { ConfigLoadError } from "./errors.js"
import { parseConfigText } from "./parse.js"
import { type ConfigInputs, readEnv, type ResolvedConfig, resolveConfig } from "./resolve.js"

/** Where to look for the config file. */
export interface LoadOptions {
  /** `--config PATH`: must exist when given. */
  readonly configPath?: string | undefined
  /** The variables to read instead of the `Environment` service (a convenience that provides it). */
  readonly env?: EnvironmentVariables | undefined
  readonly cwd: string
  readonly home?: string | undefined
}

/** The search path, highest priority first: `--config`, `MIKO_CONFIG`, then the usual places. */
export const searchPath = (
  options: LoadOptions & { readonly env: EnvironmentVariables }
): Array<{ readonly path: string; readonly required: string | undefined }> => {
  const xdg = options.env["XDG_CONFIG_HOME"] ?? (options.home === undefined ? undefined : `${options.home}/.config`)
  return [
    ...(options.configPath === undefined ? [] : [{ path: options.configPath, required: "--config" }]),
    ...(options.env["MIKO_CONFIG"] === undefined ? [] : [{ path: options.env["MIKO_CONFIG"], required: "MIKO_CONFIG" }]),
    { path: `${options.cwd}/config.yaml`, required: undefined },
    ...(xdg === undefined ? [] : [{ path: `${xdg}/miko/config.yaml`, required: undefined }]),
    { path: "/etc/miko/config.yaml", required: undefined }
  ]
}

/** The first config file on the search path; none is fine unless one was named explicitly. */
const locateConfigFile = (options: LoadOptions & { readonly env: EnvironmentVariables }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    for (const candidate of searchPath(options)) {
      const exists = yield* Effect.orElseSucceed(fs.exists(candidate.path), () => false)
      if (exists) return Option.some(candidate.path)
      if (candidate.required !== undefined) {
        return yield* new ConfigLoadError({
          message: `config file ${candidate.path} (from ${candidate.required}) does not exist`
        })
      }
    }
    return Option.none<string>()
  })

const fail = (problems: ReadonlyArray<string>) => new ConfigLoadError({ message: problems.join("\n") })

/** Reads the config file and the environment: every source but runtime changes. */
const loadInputs = (options: LoadOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const variables = yield* Environment
    const located = yield* locateConfigFile({ ...options, env: variables })
    const env = yield* Either.match(readEnv(variables), { onLeft: (p) => Effect.fail(fail(p)), onRight: Effect.succeed })
    if (Option.isNone(located)) {
      return { inputs: { file: undefined, env, runtime: new Map() } satisfies ConfigInputs, file: located }
    }
    const path = located.value
    const text = yield* fs.readFileString(path).pipe(
      Effect.mapError((error) => new ConfigLoadError({ message: `config file ${path}: cannot be read: ${error.message}` }))
    )
    const value = yield* Either.match(parseConfigText(path, text), {
      onLeft: (message) => Effect.fail(fail([message])),
      onRight: Effect.succeed
    })
    return {
      inputs: { file: { origin: `config file ${path}`, value }, env, runtime: new Map() } satisfies ConfigInputs,
      file: located
    }
  })

/** The configuration from defaults, file and environment, validated: the ground runtime changes layer onto. */
export class BaseConfig extends Context.Tag("miko/config/BaseConfig")<BaseConfig, {
  readonly inputs: ConfigInputs
  readonly resolved: ResolvedConfig
  /** The config file in use, when there is one. */
  readonly file: Option.Option<string>
}>() {}

const fromInputs = (inputs: ConfigInputs, file: Option.Option<string>) =>
  Either.match(resolveConfig(inputs), {
    onLeft: (problems) => Effect.fail(fail(problems)),
    onRight: (resolved) => Effect.succeed(BaseConfig.of({ inputs, resolved, file }))
  })

/**
 * Searches for the config file and reads `MIKO_*` overrides from the `Environment` service, or
 * from `options.env` when given.
 */
export const layerFromFiles = <Options extends LoadOptions>(
  options: Options
): Layer.Layer<BaseConfig, ConfigLoadError, FileSystem.FileSystem | EnvironmentNeeded<Options>> =>
  provideEnvironment(
    Layer.effect(BaseConfig, Effect.flatMap(loadInputs(options), ({ inputs, file }) => fromInputs(inputs, file))),
    options
  )

/**
 * Configuration given in code, validated by the same Schema: an invalid object fails with a
 * `ConfigLoadError` that names the key. No file or environment variable is read.
 */
export const layerFromObject = (config: unknown, origin = "config object"): Layer.Layer<BaseConfig, ConfigLoadError> =>
  Layer.effect(BaseConfig, Effect.suspend(() => fromInputs({ file: { origin, value: config }, env: new Map(), runtime: new Map() }, Option.none())))
