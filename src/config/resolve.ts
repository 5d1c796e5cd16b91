import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { EnvironmentVariables } from "../shared/environment.js"
import { describeIssue } from "../shared/parse-error.js"
import { didYouMean } from "../shared/suggest.js"
import { type ConfigKey, type ConfigSection, configKeys, configTree, isSection, keyOfPath } from "./keys.js"
import { type MikoConfig, MikoConfigSchema } from "./schema.js"

/** Where the effective value of a key came from, lowest to highest precedence. */
export type Source = "default" | "file" | "env" | "runtime"

/** The raw layers that make up the configuration, before validation. */
export interface ConfigInputs {
  /** The parsed config file, or a config object given in code (`origin` names it in errors). */
  readonly file?: { readonly origin: string; readonly value: unknown } | undefined
  /** Environment overrides by dotted key. */
  readonly env: ReadonlyMap<string, { readonly envVar: string; readonly value: unknown }>
  /** Runtime changes by dotted key, as encoded values. */
  readonly runtime: ReadonlyMap<string, unknown>
}

export interface ResolvedConfig {
  readonly config: MikoConfig
  readonly sources: Readonly<Record<string, Source>>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const describeValue = (value: unknown) =>
  Array.isArray(value) ? "a list" : value === null ? "null" : typeof value === "object" ? "a mapping" : `${typeof value} ${JSON.stringify(value)}`

/** Names every key of `value` that the Schema does not know, with the nearest known key. */
const unknownKeys = (value: unknown, section: ConfigSection, origin: string): Array<string> => {
  const where = section.path.length === 0 ? "the top level" : section.path.join(".")
  if (!isRecord(value)) return [`${origin}: ${where}: expected a mapping of keys, found ${describeValue(value)}`]
  return Object.entries(value).flatMap(([name, child]) => {
    const node = section.children.get(name)
    const dotted = [...section.path, name].join(".")
    if (node === undefined) {
      const siblings = [...section.children.keys()].map((sibling) => [...section.path, sibling].join("."))
      return [`${origin}: unknown key "${dotted}"${didYouMean(dotted, siblings)}`]
    }
    return isSection(node) ? unknownKeys(child, node, origin) : []
  })
}

/** Reads `MIKO_*` overrides; a variable that looks like a key but names none is an error. */
export const readEnv = (
  env: EnvironmentVariables
): Either.Either<ConfigInputs["env"], Array<string>> => {
  const found = new Map<string, { envVar: string; value: unknown }>()
  for (const key of configKeys) {
    const raw = env[key.envVar]
    if (raw !== undefined) found.set(key.dotted, { envVar: key.envVar, value: parseEnvValue(key, raw) })
  }
  const known = new Set(configKeys.map((key) => key.envVar))
  const problems = Object.keys(env)
    .filter((name) => name.startsWith("MIKO_") && name.includes("__") && !known.has(name))
    .map((name) => `environment variable ${name}: no such config key${didYouMean(name, known)}`)
  return problems.length > 0 ? Either.left(problems) : Either.right(found)
}

const parseEnvValue = (key: ConfigKey, raw: string): unknown => {
  if (key.takesString) return raw
  try {
    return JSON.parse(raw) as unknown
  } catch {
    return raw
  }
}

const setPath = (target: Record<string, unknown>, path: ReadonlyArray<string>, value: unknown) => {
  let node = target
  for (const segment of path.slice(0, -1)) {
    const next = node[segment]
    if (!isRecord(next)) node[segment] = {}
    node = node[segment] as Record<string, unknown>
  }
  node[path[path.length - 1]!] = value
}

const hasPath = (value: unknown, path: ReadonlyArray<string>): boolean => {
  let node = value
  for (const segment of path) {
    if (!isRecord(node) || !(segment in node)) return false
    node = node[segment]
  }
  return true
}

const decode = Schema.decodeUnknownEither(MikoConfigSchema, { errors: "all", onExcessProperty: "error" })

/** Layers defaults, file, environment and runtime changes, and validates the result with the Schema. */
export const resolveConfig = (inputs: ConfigInputs): Either.Either<ResolvedConfig, Array<string>> => {
  const fileValue = inputs.file?.value ?? {}
  const problems = inputs.file === undefined ? [] : unknownKeys(fileValue, configTree, inputs.file.origin)
  if (problems.length > 0) return Either.left(problems)

  const merged = structuredClone(fileValue) as Record<string, unknown>
  for (const [dotted, { value }] of inputs.env) setPath(merged, dotted.split("."), value)
  for (const [dotted, value] of inputs.runtime) setPath(merged, dotted.split("."), value)

  const sources: Record<string, Source> = {}
  for (const key of configKeys) {
    sources[key.dotted] = inputs.runtime.has(key.dotted)
      ? "runtime"
      : inputs.env.has(key.dotted)
      ? "env"
      : hasPath(fileValue, key.path)
      ? "file"
      : "default"
  }

  return Either.match(decode(merged), {
    onRight: (config) => Either.right({ config, sources }),
    onLeft: (error) =>
      Either.left(
        ParseResult.ArrayFormatter.formatErrorSync(error).filter(isInformative).map((issue) => {
          const key = keyOfPath(issue.path)
          const where = key === undefined
            ? inputs.file?.origin ?? "configuration"
            : originOf(key, sources[key.dotted] ?? "default", inputs)
          return `${where}: ${describeIssue(issue)}`
        })
      )
  })
}

/**
 * An optional key is a union with `undefined`, so a bad value also fails the `undefined` branch;
 * that branch says nothing a person can act on.
 */
const isInformative = (issue: ParseResult.ArrayFormatterIssue) => !issue.message.startsWith("Expected undefined, actual")

const originOf = (key: ConfigKey, source: Source, inputs: ConfigInputs): string => {
  switch (source) {
    case "runtime":
      return `runtime change to ${key.dotted}`
    case "env":
      return `environment variable ${key.envVar}`
    case "file":
      return inputs.file?.origin ?? "config file"
    case "default":
      return "built-in default"
  }
}
