/**
 * Renders `docs/configuration.md` from the config Schema: every key, its type, default,
 * environment variable and description are read off `configTree` / `configKeys`, so the page
 * cannot drift from what the service accepts. `npm run docs:config` writes it;
 * `test/config/docs.test.ts` fails when the committed page differs from this rendering.
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as AST from "effect/SchemaAST"
import { type ConfigKey, type ConfigSection, configKeys, configKeysByDotted, configTree, isSection, valueAt, withoutUndefined } from "./keys.js"
import { searchPath } from "./load.js"
import { defaultConfig, MikoConfigSchema } from "./schema.js"

/** A type described in words, in the singular ("integer 0–65535") and the plural ("integers 0–65535"). */
interface Phrase {
  readonly one: string
  readonly many: string
}

const pluralize = (text: string): string =>
  /(s|x|z|ch|sh)$/.test(text) ? `${text}es` : /[^aeiou]y$/.test(text) ? `${text.slice(0, -1)}ies` : `${text}s`

const noun = (one: string): Phrase => ({ one, many: pluralize(one) })

const code = (text: string) => "`" + text + "`"

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

const identifierOf = (ast: AST.AST): string | undefined => Option.getOrUndefined(AST.getIdentifierAnnotation(ast))

const jsonSchemaOf = (ast: AST.AST): Readonly<Record<string, unknown>> | undefined =>
  Option.getOrUndefined(AST.getJSONSchemaAnnotation(ast)) as Readonly<Record<string, unknown>> | undefined

/**
 * Built-in filters (`Int`, `between`, `minLength`, `NonEmptyTrimmedString`, ...) carry a schema id
 * and state their constraint as JSON Schema; they are described by that constraint. A filter of
 * our own is described by its identifier when it has one.
 */
const isConstraint = (ast: AST.Refinement): boolean =>
  Option.isSome(AST.getSchemaIdAnnotation(ast)) || (identifierOf(ast) === undefined && jsonSchemaOf(ast) !== undefined)

const flattenUnion = (ast: AST.AST): Array<AST.AST> =>
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

/** Effect's own descriptions ("a string", "an integer") restate the type; ours start with a capital or a name. */
const isGenericDescription = (text: string) => /^an? /.test(text)

/** The description of a key or field, or "" when it has none of its own. */
const ownDescription = (annotated: AST.Annotated): string => {
  const text = Option.getOrElse(AST.getDescriptionAnnotation(annotated), () => "").trim()
  return isGenericDescription(text) ? "" : text
}

/** An object as written in a config file, with the encoded defaults of its optional fields. */
interface ObjectShape {
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
const objectsWithin = (ast: AST.AST, suffix: string): Array<{ readonly suffix: string; readonly node: AST.AST; readonly shape: ObjectShape }> => {
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

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => [
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

const keyTable = (keys: ReadonlyArray<ConfigKey>): Array<string> =>
  table(["Key", "Type", "Default", "Environment variable", "Applies", "Description"], keys.map(keyRow))

/** For a key whose value holds objects (a list of tokens, a map of endpoint lists), a table of their fields. */
const fieldTables = (keys: ReadonlyArray<ConfigKey>, level: number): Array<string> =>
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

const renderSection = (section: ConfigSection, level: number): Array<string> => {
  const children = [...section.children.values()]
  const keys = children.filter((child): child is ConfigKey => !isSection(child))
  const sections = children.filter(isSection)
  const heading = section.path.length === 0
    ? []
    : ["", `${"#".repeat(level)} ${code(section.path.join("."))}${section.description === "" ? "" : ` — ${section.description}`}`]
  const body = keys.length === 0 ? [] : ["", ...keyTable(keys), ...fieldTables(keys, Math.min(level + 1, 6))]
  return [...heading, ...body, ...sections.flatMap((child) => renderSection(child, Math.min(level + 1, 6)))]
}

/** The config-file search order, read off `searchPath` with placeholders for its inputs. */
const searchOrder = (): Array<string> => {
  const placeholders = { configPath: "PATH", cwd: ".", home: "~" }
  const withXdg = searchPath({ ...placeholders, env: { MIKO_CONFIG: "PATH", XDG_CONFIG_HOME: "$XDG_CONFIG_HOME" } })
  const withoutXdg = searchPath({ ...placeholders, env: { MIKO_CONFIG: "PATH" } })
  return withXdg.map((candidate, index) => {
    if (candidate.required !== undefined) {
      const given = candidate.required.startsWith("-") ? `${candidate.required} ${candidate.path}` : `${candidate.required}=${candidate.path}`
      return `${index + 1}. ${code(given)} — this file must exist`
    }
    const fallback = withoutXdg[index]?.path
    return fallback !== undefined && fallback !== candidate.path
      ? `${index + 1}. ${code(candidate.path)}, or ${code(fallback)} when \`XDG_CONFIG_HOME\` is not set`
      : `${index + 1}. ${code(candidate.path)}`
  })
}

/** An example configuration for one key; shown only while the key exists in the Schema. */
export interface ConfigExample {
  readonly key: string
  readonly title: string
  readonly text: ReadonlyArray<string>
  readonly yaml: string
}

export const configExamples: ReadonlyArray<ConfigExample> = [
  {
    key: "registry.static",
    title: "Static endpoints",
    text: [
      "Endpoints that do not register themselves (a database, a partner API) are declared in the file,",
      "by service name. Each needs a `publicAddress`, an `internalAddress` or both: a URL or a `host:port`."
    ],
    yaml: `registry:
  static:
    billing:
      - id: billing-eu-1
        publicAddress: https://billing.example.com
        internalAddress: http://billing.internal:8080
        protocol: https
        zone: eu-1
        weight: 10
        tags: [primary]
        metadata: { team: payments }
      - internalAddress: billing-2.internal:8080
    postgres:
      - internalAddress: db.internal:5432
        protocol: tcp
`
  },
  {
    key: "auth.tokens",
    title: "Tokens",
    text: [
      "Each token gives exactly one of `secret` (the token itself, at least 16 characters), `secretEnv` (the name of",
      "an environment variable holding it) or `secretFile` (a file holding it); prefer the last two, which keep the",
      "token out of the config file; such secrets are read at start and again whenever the configuration changes. Roles:",
      "`admin` may do everything, `register` may register endpoints and send heartbeats, `internal` may see",
      "internal addresses. `services` limits the services a `register` token may register; without it, any."
    ],
    yaml: `auth:
  tokens:
    - name: ops
      secretEnv: OPS_TOKEN
      roles: [admin]
    - name: payments-registrar
      secretFile: /run/secrets/payments-registrar
      roles: [register]
      services: [payments, payments-worker]
    - name: internal-clients
      secret: 3f9c1e7a5b2d4c6e8f0a1b2c
      roles: [internal]
`
  },
  {
    key: "scheduler.tasks",
    title: "Tasks",
    text: [
      "A task that calls an HTTP endpoint every night at 03:00 Berlin time and retries a failed run",
      "up to three times, with exponential backoff starting at 10s."
    ],
    yaml: `scheduler:
  tasks:
    - name: nightly-report
      kind: http
      http: { method: POST, url: http://reports.internal:8080/run }
      triggers: [{ cron: "0 3 * * *", timezone: Europe/Berlin }]
      retry: { maxRetries: 3, backoff: exponential, delay: 10s }
`
  }
]

const exampleSections = (): Array<string> =>
  configExamples
    .filter((example) => configKeysByDotted.has(example.key))
    .flatMap((example) => ["", `### ${example.title} (${code(example.key)})`, "", ...example.text, "", "```yaml", ...example.yaml.trimEnd().split("\n"), "```"])

const firstWhere = (predicate: (key: ConfigKey) => boolean): ConfigKey | undefined => configKeys.find(predicate)

/** The whole of `docs/configuration.md`. */
export const renderConfigurationDoc = (): string => {
  const camel = firstWhere((key) => /[A-Z]/.test(key.path[key.path.length - 1] ?? ""))
  const json = firstWhere((key) => !key.takesString)
  const envExamples = [camel, json].filter((key) => key !== undefined)
  const examples = exampleSections()
  const lines = [
    "# Configuration",
    "",
    "<!-- Generated from the config Schema (src/config/schema.ts) by `npm run docs:config`; do not edit by hand. -->",
    "",
    "Miko's configuration is one Schema: it supplies the defaults and validates the config file, the",
    "`MIKO_*` environment variables and every runtime change. This page is generated from that Schema.",
    "Invalid configuration stops the start with exit code 2 and a message naming the file or variable, the key,",
    "what was expected and what was found; an unknown key is an error too, with the nearest known key suggested.",
    "",
    "## The config file",
    "",
    "Miko reads the first file found of:",
    "",
    ...searchOrder(),
    "",
    "Without a file the defaults apply. A file whose name ends in `.json` or `.jsonc` is read as JSON, where",
    "`//` and `/* */` comments are allowed; any other file as YAML. The shipped `config.yaml` lists every key",
    "with its default.",
    "",
    "## Precedence",
    "",
    "Each source overrides the ones above it:",
    "",
    "1. the Schema defaults (the Default column below);",
    "2. the config file;",
    "3. environment variables;",
    "4. runtime changes: `PUT /v1/config/{key}` with a body `{\"value\": ...}`, or `miko config set KEY VALUE`",
    "   (both need the `admin` role). A change is validated like every other source, saved in the SQLite",
    "   database in `general.dataDir` and applied again at every start. `DELETE /v1/config/{key}`",
    "   (`miko config reset KEY`) removes the change to one key and `POST /v1/config/reset` (`miko config reset`)",
    "   removes all of them, restoring the value from the environment, the file or the default.",
    "",
    "The file and the environment are read at start. A runtime change takes effect at once, except for keys",
    "marked `restart` in the Applies column: such a change is saved and takes effect at the next start.",
    "",
    "## Environment variables",
    "",
    "A key's variable is `MIKO_` followed by the key's path in SNAKE_CASE, with sections joined by `__`" +
    (envExamples.length === 0 ? "." : ":"),
    ...(envExamples.length === 0
      ? []
      : [`${envExamples.map((key) => `${code(key.dotted)} is ${code(key.envVar)}`).join(", ")}.`]),
    "Keys of a text type (strings, choices among strings, durations) take the value as it is; other keys",
    "read it as JSON (`8`, `true`, `[\"a\"]`, `{\"name\": \"value\"}`), or as text when it is not JSON.",
    "A `MIKO_` variable containing `__` that names no key stops the start. Variables without `__`, such as",
    "`MIKO_CONFIG` and the CLI's `MIKO_ADDRESS` and `MIKO_TOKEN`, are not config keys.",
    "",
    "## Keys",
    "",
    "Applies: `live` when a runtime change takes effect at once, `restart` when it takes effect at the next start.",
    "Durations are written as text such as `500ms`, `15s`, `1m30s` or `2h`.",
    ...(configKeys.some((key) => objectsWithin(key.ast, "").length > 0)
      ? ["A key that holds objects is followed by a table of their fields; there `a[].b` is the field `b` of each", "item of the list `a`."]
      : []),
    ...renderSection(configTree, 2),
    ...(examples.length === 0
      ? []
      : ["", "## Examples", "", "Each example is a part of a config file; the sections it leaves out keep their defaults.", ...examples])
  ]
  return `${lines.join("\n")}\n`
}
