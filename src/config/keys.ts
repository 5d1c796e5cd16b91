import * as AST from "effect/SchemaAST"
import * as Option from "effect/Option"
import { MikoConfigSchema, RestartRequired } from "./schema.js"

/** One settable key of the configuration: a leaf of the config Schema. */
export interface ConfigKey {
  readonly path: ReadonlyArray<string>
  readonly dotted: string
  readonly envVar: string
  readonly description: string
  readonly restartRequired: boolean
  /** Whether an environment value is taken as a plain string rather than parsed as JSON. */
  readonly takesString: boolean
  readonly ast: AST.AST
}

/** A section of the configuration and the keys below it. */
export interface ConfigSection {
  readonly path: ReadonlyArray<string>
  readonly description: string
  readonly children: ReadonlyMap<string, ConfigSection | ConfigKey>
}

export const isSection = (node: ConfigSection | ConfigKey): node is ConfigSection => "children" in node

const snake = (segment: string) => segment.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()

/** `["scheduler", "maxRunningTasks"]` → `MIKO_SCHEDULER__MAX_RUNNING_TASKS`. */
export const envVarOf = (path: ReadonlyArray<string>): string => "MIKO_" + path.map(snake).join("__")

/** An optional key's type without the `undefined` its optionality adds. */
export const withoutUndefined = (ast: AST.AST): AST.AST => {
  if (AST.isUnion(ast)) {
    const members = ast.types.filter((member) => !AST.isUndefinedKeyword(member))
    if (members.length === 1) return members[0]!
  }
  return ast
}

const structOf = (ast: AST.AST): AST.TypeLiteral | undefined => {
  const inner = AST.isTransformation(ast) ? ast.from : ast
  return AST.isTypeLiteral(inner) && inner.indexSignatures.length === 0 && inner.propertySignatures.length > 0
    ? inner
    : undefined
}

const takesString = (ast: AST.AST): boolean => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return true
    case "Literal":
      return typeof ast.literal === "string"
    case "Union":
      return ast.types.every(takesString)
    case "Refinement":
      return takesString(ast.from)
    case "Transformation":
      return takesString(ast.from)
    default:
      return false
  }
}

const description = (ast: AST.AST): string => Option.getOrElse(AST.getDescriptionAnnotation(ast), () => "")

const build = (ast: AST.AST, path: ReadonlyArray<string>): ConfigSection => {
  const struct = structOf(ast)!
  const children = new Map<string, ConfigSection | ConfigKey>()
  for (const property of struct.propertySignatures) {
    const name = String(property.name)
    const type = withoutUndefined(property.type)
    const childPath = [...path, name]
    if (structOf(type) !== undefined) {
      children.set(name, build(type, childPath))
    } else {
      children.set(name, {
        path: childPath,
        dotted: childPath.join("."),
        envVar: envVarOf(childPath),
        description: description(type),
        restartRequired: type.annotations[RestartRequired] === true,
        takesString: takesString(type),
        ast: type
      })
    }
  }
  return { path, description: description(ast), children }
}

/** The tree of sections and keys, read off the config Schema. */
export const configTree: ConfigSection = build(MikoConfigSchema.ast, [])

const collect = (section: ConfigSection): Array<ConfigKey> =>
  [...section.children.values()].flatMap((node) => (isSection(node) ? collect(node) : [node]))

/** Every settable key, in Schema order. */
export const configKeys: ReadonlyArray<ConfigKey> = collect(configTree)

export const configKeysByDotted: ReadonlyMap<string, ConfigKey> = new Map(configKeys.map((key) => [key.dotted, key]))

/** The key a dotted path falls under: itself, or the leaf that holds it (`auth.tokens.0.name` → `auth.tokens`). */
export const keyOfPath = (path: ReadonlyArray<PropertyKey>): ConfigKey | undefined => {
  for (let length = path.length; length > 0; length--) {
    const found = configKeysByDotted.get(path.slice(0, length).map(String).join("."))
    if (found !== undefined) return found
  }
  return undefined
}

/** The value under `path` in a plain object tree, or undefined where the path leads nowhere. */
export const valueAt = (root: unknown, path: ReadonlyArray<string>): unknown =>
  path.reduce<unknown>(
    (node, segment) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[segment] : undefined),
    root
  )
