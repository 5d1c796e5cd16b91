/** The tables of the configuration page: one row per key, and the fields of the objects a key holds. */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { type ConfigKey, valueAt, withoutUndefined } from "../keys.js"
import { defaultConfig, MikoConfigSchema } from "../schema.js"
import { code, describeType, flattenUnion, identifierOf } from "./describe.js"

/** Effect's own descriptions ("a string", "an integer") restate the type; ours start with a capital or a name. */
const isGenericDescription = (text: string) => /^an? /.test(text)

/** The description of a key or field, or "" when it has none of its own. */
const ownDescription = (annotated: AST.Annotated): string => {
  const text = Option.getOrElse(AST.getDescriptionAnnotation(annotated), () => "").trim()
  return isGenericDescription(text) ? "" : text
}

/** An object as written in a config file, with the encoded defaults of its optional fields. */
export interface ObjectShape {
  readonly literal: AST.TypeLiteral
  readonly defaults: ReadonlyMap<PropertyKey, unknown>
}

const encodeWith = (ast: AST.AST, value: unknown): Option.Option<unknown> =>
  Either.getRight(Schema.encodeUnknownEither(Schema.make<unknown, unknown, never>(ast))(value))

const objectShape = (ast: AST.AST): ObjectShape | undefined => {
  if (AST.isRefinement(ast)) return objectShape(ast.from)
  if (AST.isTypeLiteral(ast)) {
    return ast.propertySignatures.length > 0 ? { literal: ast, defaults: new Map() } : undefined
  }
  if (AST.isTransformation(ast) && AST.isTypeLiteral(ast.from) && AST.isTypeLiteral(ast.to)) {
    const from = ast.from
    const defaults = new Map<PropertyKey, unknown>()
    if (AST.isTypeLiteralTransformation(ast.transformation)) {
      for (const field of ast.transformation.propertySignatureTransformations) {
        // The encoded side of the field is its whole schema: it encodes the default back to file form.
        const source = from.propertySignatures.find((property) => property.name === field.from)
        const value = field.decode(Option.none())
        if (source === undefined || Option.isNone(value)) continue
        const encoded = encodeWith(source.type, value.value)
        if (Option.isSome(encoded)) defaults.set(field.from, encoded.value)
      }
    }
    return ast.from.propertySignatures.length > 0 ? { literal: ast.from, defaults } : undefined
  }
  return undefined
}

/** The objects a value is made of, through lists, maps and filters: `[]` marks a list item, `.*` a map value. */
export const objectsWithin = (ast: AST.AST, suffix: string): Array<{ readonly suffix: string; readonly node: AST.AST; readonly shape: ObjectShape }> => {
  const shape = objectShape(ast)
  if (shape !== undefined) return [{ suffix, node: ast, shape }]
  switch (ast._tag) {
    case "Refinement":
      return objectsWithin(ast.from, suffix)
    case "Union":
      return flattenUnion(ast).flatMap((member) => objectsWithin(member, suffix))
    case "TupleType":
      return [...ast.elements.map((element) => element.type), ...ast.rest.map((rest) => rest.type)]
        .flatMap((item) => objectsWithin(item, `${suffix}[]`))
        .filter((found, index, all) => all.findIndex((other) => other.shape.literal === found.shape.literal) === index)
    case "TypeLiteral":
      return ast.indexSignatures.flatMap((index) => objectsWithin(index.type, `${suffix}.*`))
    default:
      return []
  }
}

interface FieldRow {
  readonly name: string
  readonly type: string
  readonly default: string
  readonly description: string
}

/** A field's description: its own, else that of the values it holds (the items of a list). */
const fieldDescription = (property: AST.PropertySignature, type: AST.AST): string => {
  const candidates: Array<AST.Annotated> = [property, type]
  let node: AST.AST = type
  while (AST.isRefinement(node)) {
    node = node.from
    candidates.push(node)
  }
  if (AST.isTupleType(node)) candidates.push(...node.rest.map((rest) => rest.type))
  for (const candidate of candidates) {
    const text = ownDescription(candidate)
    if (text !== "") return text
  }
  return ""
}

/** `forms` names the alternatives a row belongs to, when a value is one of several kinds of object. */
const fieldRows = (shape: ObjectShape, prefix: string, depth: number, forms: ReadonlyArray<string>): Array<FieldRow> =>
  shape.literal.propertySignatures.flatMap((property) => {
    const name = `${prefix}${String(property.name)}`
    const type = withoutUndefined(property.type)
    const row: FieldRow = {
      name,
      type: describeType(type).one,
      default: shape.defaults.has(property.name)
        ? code(JSON.stringify(shape.defaults.get(property.name)))
        : property.isOptional
        ? "none"
        : "required",
      description: [forms.length === 0 ? "" : `(${forms.join("; ")})`, fieldDescription(property, type)].filter((text) => text !== "").join(" ")
    }
    const objects = depth >= 4 ? [] : objectsWithin(type, "")
    const nested = objects.flatMap((found, index) =>
      fieldRows(
        found.shape,
        `${name}${found.suffix}.`,
        depth + 1,
        objects.length > 1 ? [...forms, `${code(name)} form ${index + 1} of ${objects.length}`] : forms
      )
    )
    return [row, ...nested]
  })

const cell = (text: string) => text.replace(/\r?\n/g, " ").replace(/\|/g, "\\|")

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => [
  `| ${header.join(" | ")} |`,
  `| ${header.map(() => "---").join(" | ")} |`,
  ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`)
]

const encodedDefaults: unknown = Schema.encodeSync(MikoConfigSchema)(defaultConfig())

/** The key's Schema default as written in a config file, or "none". */
const defaultOf = (key: ConfigKey): string => {
  const value = valueAt(encodedDefaults, key.path)
  return value === undefined ? "none" : code(JSON.stringify(value))
}

const keyRow = (key: ConfigKey): Array<string> => [
  code(key.dotted),
  describeType(key.ast).one,
  defaultOf(key),
  code(key.envVar),
  key.restartRequired ? "restart" : "live",
  key.description
]

export const keyTable = (keys: ReadonlyArray<ConfigKey>): Array<string> =>
  table(["Key", "Type", "Default", "Environment variable", "Applies", "Description"], keys.map(keyRow))

/** For a key whose value holds objects (a list of tokens, a map of endpoint lists), a table of their fields. */
export const fieldTables = (keys: ReadonlyArray<ConfigKey>, level: number): Array<string> =>
  keys.flatMap((key) =>
    objectsWithin(key.ast, "").flatMap((found, index, all) => {
      const what = identifierOf(found.node) === undefined ? "entry" : describeType(found.node).one
      const form = all.length > 1 ? ` (form ${index + 1} of ${all.length})` : ""
      return [
        "",
        `${"#".repeat(level)} Fields of each ${what} in ${code(key.dotted)}${form}`,
        "",
        ...table(["Field", "Type", "Default", "Description"], fieldRows(found.shape, "", 0, []).map((row) => [
          code(row.name),
          row.type,
          row.default,
          row.description
        ]))
      ]
    })
  )
