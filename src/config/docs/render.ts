/**
 * Renders `docs/configuration.md` from the config Schema: every key, its type, default,
 * environment variable and description are read off `configTree` / `configKeys`, so the page
 * cannot drift from what the service accepts. `npm run docs:config` writes it;
 * `test/config/docs.test.ts` fails when the committed page differs from this rendering.
 */
import * as Schema from "effect/Schema"
import { type ConfigKey, type ConfigSection, configKeys, configKeysByDotted, configTree, isSection } from "../keys.js"
import { searchPath } from "../load.js"
import { code } from "./describe.js"
import { configExamples } from "./examples.js"
import { fieldTables, keyTable, objectsWithin, table } from "./tables.js"

export { type ConfigExample, configExamples } from "./examples.js"

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
