import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { bootstrapTokenFile } from "../auth/tokens.js"
import { BaseConfig, layerFromFiles } from "../config/load.js"
import { Environment } from "../shared/environment.js"
import { CliError } from "./errors.js"

export interface Target {
  readonly address: string
  readonly token: Option.Option<string>
}

export interface TargetOptions {
  readonly address: Option.Option<string>
  readonly token: Option.Option<string>
  readonly configPath: Option.Option<string>
  readonly cwd: string
  readonly home?: string | undefined
}

const nonEmpty = (value: string | undefined) => Option.filter(Option.fromNullable(value), (v) => v.trim() !== "")

/**
 * Which Miko to talk to: `--address`, `MIKO_ADDRESS`, or the local config's listen address;
 * the token from `--token`, `MIKO_TOKEN`, or the bootstrap token in the local data dir.
 */
export const resolveTarget = (options: TargetOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const env = yield* Environment
    const local = Effect.map(
      BaseConfig,
      ({ resolved }) => resolved.config
    ).pipe(
      Effect.provide(layerFromFiles({
        configPath: Option.getOrUndefined(options.configPath),
        cwd: options.cwd,
        home: options.home
      })),
      // The local config is only read to find Miko; when it is invalid, that is for a person to fix.
      Effect.mapError((error) => new CliError({ kind: "invalid", message: `invalid configuration:\n${error.message}` }))
    )
    const explicit = Option.orElse(options.address, () => nonEmpty(env["MIKO_ADDRESS"]))
    const config = Option.isSome(explicit) && (Option.isSome(options.token) || Option.isSome(nonEmpty(env["MIKO_TOKEN"])))
      ? Option.none()
      : Option.some(yield* local)
    const address = Option.getOrElse(explicit, () => {
      const { http } = Option.getOrThrow(config)
      if (http.publicUrl !== undefined) return http.publicUrl
      const host = http.host === "0.0.0.0" || http.host === "::" ? "127.0.0.1" : http.host
      return `http://${host.includes(":") ? `[${host}]` : host}:${http.port}`
    })
    const fromFile = Option.isNone(config)
      ? Option.none<string>()
      : yield* fs.readFileString(bootstrapTokenFile(config.value.general.dataDir)).pipe(
        Effect.map((text) => nonEmpty(text.trim())),
        Effect.orElseSucceed(() => Option.none<string>())
      )
    const token = options.token.pipe(
      Option.orElse(() => nonEmpty(env["MIKO_TOKEN"])),
      Option.orElse(() => fromFile)
    )
    return { address: address.replace(/\/+$/, ""), token } satisfies Target
  })
