/** Types in words, for the configuration page: what values a Schema accepts, as a config file writes them. */
import * as Option from "effect/Option"
import * as AST from "effect/SchemaAST"

/** A type described in words, in the singular ("integer 0–65535") and the plural ("integers 0–65535"). */
export interface Phrase {
  readonly one: string
  readonly many: string
}

const pluralize = (text: string): string =>
  /(s|x|z|ch|sh)$/.test(text) ? `${text}es` : /[^aeiou]y$/.test(text) ? `${text.slice(0, -1)}ies` : `${text}s`

export const noun = (one: string): Phrase => ({ one, many: pluralize(one) })

export const code = (text: string) => "`" + text + "`"

/** `StaticEndpoint` → "static endpoint"; a trailing `Spec` or `Schema` is a naming convention, not a word. */
const identifierNoun = (identifier: string): Phrase => {
  const words = identifier
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/\s+/)
  const trimmed = words.length > 1 && /^(spec|schema)$/.test(words[words.length - 1]!) ? words.slice(0, -1) : words
  return noun(trimmed.join(" "))
}

export const identifierOf = (ast: AST.AST): string | undefined => Option.getOrUndefined(AST.getIdentifierAnnotation(ast))

const jsonSchemaOf = (ast: AST.AST): Readonly<Record<string, unknown>> | undefined =>
  Option.getOrUndefined(AST.getJSONSchemaAnnotation(ast)) as Readonly<Record<string, unknown>> | undefined

/**
 * Built-in filters (`Int`, `between`, `minLength`, `NonEmptyTrimmedString`, ...) carry a schema id
 * and state their constraint as JSON Schema; they are described by that constraint. A filter of
 * our own is described by its identifier when it has one.
 */
const isConstraint = (ast: AST.Refinement): boolean =>
  Option.isSome(AST.getSchemaIdAnnotation(ast)) || (identifierOf(ast) === undefined && jsonSchemaOf(ast) !== undefined)

export const flattenUnion = (ast: AST.AST): Array<AST.AST> =>
  AST.isUnion(ast) ? ast.types.flatMap(flattenUnion) : AST.isUndefinedKeyword(ast) ? [] : [ast]

const numberIn = (schema: Readonly<Record<string, unknown>>, name: string): number | undefined => {
  const value = schema[name]
  return typeof value === "number" ? value : undefined
}

const range = (min: number | undefined, max: number | undefined, unit: string): string | undefined => {
  if (min !== undefined && max !== undefined) return min === max ? `of exactly ${min} ${unit}` : `of ${min}–${max} ${unit}`
  if (min !== undefined) return `of at least ${min} ${unit}`
  if (max !== undefined) return `of at most ${max} ${unit}`
  return undefined
}

/** Adds what JSON Schema says about a value (integer, bounds, lengths) to the phrase for its base type. */
const constrain = (base: Phrase, schema: Readonly<Record<string, unknown>>): Phrase => {
  let { many, one } = schema["type"] === "integer" && base.one === "number" ? noun("integer") : base
  const prefix = (word: string) => {
    one = `${word} ${one}`
    many = `${word} ${many}`
  }
  const suffix = (text: string) => {
    one = `${one} ${text}`
    many = `${many} ${text}`
  }

  const minimum = numberIn(schema, "minimum")
  const maximum = numberIn(schema, "maximum")
  const exclusiveMinimum = numberIn(schema, "exclusiveMinimum")
  const exclusiveMaximum = numberIn(schema, "exclusiveMaximum")
  if (minimum !== undefined && maximum !== undefined) {
    suffix(`${minimum}–${maximum}`)
  } else {
    const bounds = [
      minimum === undefined ? undefined : `≥ ${minimum}`,
      exclusiveMinimum === undefined ? undefined : `> ${exclusiveMinimum}`,
      maximum === undefined ? undefined : `≤ ${maximum}`,
      exclusiveMaximum === undefined ? undefined : `< ${exclusiveMaximum}`
    ].filter((bound) => bound !== undefined)
    if (bounds.length > 0) suffix(bounds.join(" and "))
  }

  for (const [min, max, unit] of [
    [numberIn(schema, "minLength"), numberIn(schema, "maxLength"), "characters"],
    [numberIn(schema, "minItems"), numberIn(schema, "maxItems"), "items"]
  ] as const) {
    if (min === 1 && max === undefined) prefix("non-empty")
    else {
      const text = range(min === 0 ? undefined : min, max, unit)
      if (text !== undefined) suffix(text)
    }
  }
  return { one, many }
}

/** A readable name for the values a schema accepts, as written in a config file (the encoded side). */
export const describeType = (ast: AST.AST): Phrase => {
  switch (ast._tag) {
    case "StringKeyword":
    case "TemplateLiteral":
      return noun("string")
    case "NumberKeyword":
      return noun("number")
    case "BooleanKeyword":
      return noun("boolean")
    case "BigIntKeyword":
      return noun("integer")
    case "UndefinedKeyword":
    case "VoidKeyword":
      return { one: "nothing", many: "nothing" }
    case "NeverKeyword":
      return { one: "no value", many: "no values" }
    case "UnknownKeyword":
    case "AnyKeyword":
      return { one: "any value", many: "any values" }
    case "ObjectKeyword":
      return noun("object")
    case "SymbolKeyword":
    case "UniqueSymbol":
      return noun("symbol")
    case "Literal":
      return { one: code(JSON.stringify(ast.literal)), many: code(JSON.stringify(ast.literal)) }
    case "Enums": {
      const one = ast.enums.map(([, value]) => code(JSON.stringify(value))).join(" | ")
      return { one, many: `(${one})` }
    }
    case "Union": {
      const members = flattenUnion(ast)
      if (members.length === 1) return describeType(members[0]!)
      if (members.every(AST.isLiteral)) {
        const one = members.map((member) => describeType(member).one).join(" | ")
        return { one, many: `(${one})` }
      }
      const identifier = identifierOf(ast)
      if (identifier !== undefined) return identifierNoun(identifier)
      const phrases = members.map(describeType).filter((phrase, index, all) => all.findIndex((other) => other.one === phrase.one) === index)
      return { one: phrases.map((p) => p.one).join(" or "), many: phrases.map((p) => p.many).join(" or ") }
    }
    case "TupleType": {
      const [rest, ...after] = ast.rest
      if (rest === undefined || after.length > 0) {
        return noun(`list of ${ast.elements.map((element) => describeType(element.type).one).join(", ")}`)
      }
      const item = describeType(rest.type)
      const required = ast.elements.filter((element) => !element.isOptional).length
      const list = `list of ${item.many}`
      return required === 0 ? noun(list) : required === 1 ? noun(`non-empty ${list}`) : noun(`${list} ${range(required, undefined, "items")!}`)
    }
    case "TypeLiteral": {
      const [index] = ast.indexSignatures
      if (ast.propertySignatures.length === 0 && index !== undefined && ast.indexSignatures.length === 1) {
        return noun(`map of ${describeType(index.parameter).one} → ${describeType(index.type).one}`)
      }
      const identifier = identifierOf(ast)
      return identifier === undefined ? noun("object") : identifierNoun(identifier)
    }
    case "Refinement": {
      if (isConstraint(ast)) {
        const schemas: Array<Readonly<Record<string, unknown>>> = []
        let node: AST.AST = ast
        while (AST.isRefinement(node) && isConstraint(node)) {
          schemas.unshift(jsonSchemaOf(node) ?? {})
          node = node.from
        }
        return constrain(describeType(node), Object.assign({}, ...schemas) as Record<string, unknown>)
      }
      const identifier = identifierOf(ast)
      return identifier === undefined ? describeType(ast.from) : identifierNoun(identifier)
    }
    case "Transformation": {
      const identifier = identifierOf(ast)
      return identifier === undefined ? describeType(ast.from) : identifierNoun(identifier)
    }
    case "Declaration":
    case "Suspend": {
      const identifier = identifierOf(ast)
      return identifier === undefined ? noun("value") : identifierNoun(identifier)
    }
  }
}
