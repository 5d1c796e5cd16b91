import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { bootstrapTokenFile } from "../auth/tokens.js"
import { BaseConfig, layerFromFiles } from "../config/load.js"

/** A CLI command failed; the message is for the person at the terminal. */
export class CliError extends Schema.TaggedError<CliError>()("CliError", { message: Schema.String }) {}

export interface Target {
  readonly address: string
  readonly token: Option.Option<string>
}

export interface TargetOptions {
  readonly address: Option.Option<string>
  readonly token: Option.Option<string>
  readonly configPath: Option.Option<string>
  readonly env: Readonly<Record<string, string | undefined>>
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
    const local = Effect.map(
      BaseConfig,
      ({ resolved }) => resolved.config
    ).pipe(
      Effect.provide(layerFromFiles({
        configPath: Option.getOrUndefined(options.configPath),
        env: options.env,
        cwd: options.cwd,
        home: options.home
      })),
      Effect.mapError((error) => new CliError({ message: error.message }))
    )
    const explicit = Option.orElse(options.address, () => nonEmpty(options.env["MIKO_ADDRESS"]))
    const config = Option.isSome(explicit) && (Option.isSome(options.token) || nonEmpty(options.env["MIKO_TOKEN"])._tag === "Some")
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
      Option.orElse(() => nonEmpty(options.env["MIKO_TOKEN"])),
      Option.orElse(() => fromFile)
    )
    return { address: address.replace(/\/+$/, ""), token } satisfies Target
  })

const describeFetchError = (error: unknown): string => {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : undefined
  if (code === "ECONNREFUSED") return "connection refused"
  if (code === "ENOTFOUND") return "host not found"
  return cause instanceof Error ? cause.message : String(cause)
}

/** Calls the API; a non-2xx answer becomes a `CliError` with the server's own message. */
export const request = (target: Target, method: string, path: string, body?: unknown) =>
  Effect.gen(function*() {
    const url = `${target.address}${path}`
    const headers: Record<string, string> = { accept: "application/json" }
    if (Option.isSome(target.token)) headers["authorization"] = `Bearer ${target.token.value}`
    if (body !== undefined) headers["content-type"] = "application/json"
    const response = yield* Effect.tryPromise({
      try: (signal) =>
        fetch(url, {
          method,
          headers,
          signal,
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        }),
      catch: (error) =>
        new CliError({
          message: `cannot reach Miko at ${target.address}: ${describeFetchError(error)}. ` +
            "Is `miko serve` running? Point the CLI elsewhere with --address or MIKO_ADDRESS."
        })
    }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new CliError({ message: `Miko at ${target.address} did not answer within 10s` }) }))
    const text = yield* Effect.promise(() => response.text())
    const json = yield* Effect.try({ try: () => (text === "" ? null : JSON.parse(text) as unknown), catch: () => undefined }).pipe(
      Effect.orElseSucceed(() => undefined)
    )
    if (!response.ok) {
      const envelope = json as { error?: { code?: string; message?: string } } | undefined
      const detail = envelope?.error?.message ?? (text || response.statusText)
      const hint = response.status === 401 ? " (set --token or MIKO_TOKEN, or run on the host whose data dir holds admin-token)" : ""
      return yield* new CliError({ message: `${method} ${path}: ${response.status} ${envelope?.error?.code ?? ""}: ${detail}${hint}`.replace(" : ", ": ") })
    }
    return json
  })
