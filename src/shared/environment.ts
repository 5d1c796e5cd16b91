import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/** Environment variables by name, the shape of `process.env`. */
export type EnvironmentVariables = Readonly<Record<string, string | undefined>>

/**
 * The process environment as Miko reads it: `MIKO_*` overrides, the config file's search path,
 * and the variables `secretEnv` settings name. One service, provided once (the binary provides
 * `layerProcess` in main.ts) and read by the layers that need it, so tests and embedders give
 * their own variables with `layerFrom` instead of passing a record down every constructor.
 */
export class Environment extends Context.Tag("miko/shared/Environment")<Environment, EnvironmentVariables>() {
  /** The process's own variables, read when the layer is built: importing Miko reads nothing. */
  static readonly layerProcess: Layer.Layer<Environment> = Layer.sync(Environment, () => process.env)

  /** The given variables, and no others. */
  static readonly layerFrom = (variables: EnvironmentVariables): Layer.Layer<Environment> => Layer.succeed(Environment, variables)
}

/** What a constructor's layer needs besides its own requirements: nothing when its options carry `env`, else `Environment`. */
export type EnvironmentNeeded<Options> = Options extends { readonly env: EnvironmentVariables } ? never : Environment

/**
 * The convenience of the library's constructors that take an optional `env`: given, it provides
 * `Environment` to the layer; left out, the layer reads the service from its context. The type
 * follows, so a caller that passes `env` is asked for nothing more.
 */
export const provideEnvironment = <A, E, R, Options extends { readonly env?: EnvironmentVariables | undefined }>(
  layer: Layer.Layer<A, E, R>,
  options: Options
): Layer.Layer<A, E, Exclude<R, Environment> | EnvironmentNeeded<Options>> =>
  // The conditional type cannot be narrowed by the check on `options.env`; the two branches match it.
  (options.env === undefined ? layer : Layer.provide(layer, Environment.layerFrom(options.env))) as Layer.Layer<
    A,
    E,
    Exclude<R, Environment> | EnvironmentNeeded<Options>
  >

/**
 * The same for a constructor whose last argument is an optional `env`, declared as a rest tuple
 * (`...[env]: [env?: Variables]`) so that an argument that may be undefined keeps `undefined` in
 * `Variables`, and the type asks for `Environment` then.
 */
export const provideEnvironmentArgument = <A, E, R, Variables extends EnvironmentVariables | undefined>(
  layer: Layer.Layer<A, E, R>,
  env: Variables | undefined
) => provideEnvironment(layer, { env: env as Variables })
