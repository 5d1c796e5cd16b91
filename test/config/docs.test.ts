import { describe, expect, it } from "vitest"
import * as Either from "effect/Either"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { configKeys, configKeysByDotted, configTree, type ConfigSection, isSection } from "../../src/config/keys.js"
import { configExamples, renderConfigurationDoc } from "../../src/config/docs/render.js"
import { parseConfigText } from "../../src/config/parse.js"
import { resolveConfig } from "../../src/config/resolve.js"
import { repoRoot } from "../support/miko.js"

const docPath = join(repoRoot, "docs", "configuration.md")
const committed = existsSync(docPath) ? readFileSync(docPath, "utf8") : ""

const outdated =
  "docs/configuration.md does not match the config Schema. It is generated from src/config/schema.ts (by " +
  "src/config/docs/) and must be regenerated whenever the Schema changes: run `npm run docs:config` and commit " +
  "docs/configuration.md"

/** The ```yaml blocks of a Markdown text, in order. */
const yamlBlocks = (markdown: string): Array<string> =>
  [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? "")

/** The dotted keys a config fragment sets: its first two levels (`section.key`). */
const keysSetBy = (value: unknown): Array<string> =>
  typeof value === "object" && value !== null
    ? Object.entries(value).flatMap(([section, keys]) =>
      typeof keys === "object" && keys !== null ? Object.keys(keys).map((key) => `${section}.${key}`) : [section]
    )
    : []

const sections = (section: ConfigSection): Array<ConfigSection> =>
  [...section.children.values()].filter(isSection).flatMap((child) => [child, ...sections(child)])

describe("docs/configuration.md", () => {
  it("is the rendering of the current config Schema", () => {
    expect(existsSync(docPath), `docs/configuration.md is missing: run \`npm run docs:config\``).toBe(true)
    expect(committed, outdated).toBe(renderConfigurationDoc())
  })

  it("every key and every section has a description", () => {
    const missing = [
      ...configKeys.filter((key) => key.description.trim() === "").map((key) => key.dotted),
      ...sections(configTree).filter((section) => section.description.trim() === "").map((section) => section.path.join("."))
    ]
    expect(missing, "give these a description in src/config/schema.ts, then run `npm run docs:config`").toEqual([])
  })

  it("lists every key with its environment variable", () => {
    for (const key of configKeys) {
      expect(committed, key.dotted).toContain(`| \`${key.dotted}\` |`)
      expect(committed, key.dotted).toContain(`\`${key.envVar}\``)
    }
  })
})

/** Decodes a YAML example as a config file: merged over the defaults, under the sections it names. */
const problemsOf = (origin: string, yaml: string): string => {
  const parsed = parseConfigText(`${origin}.yaml`, yaml)
  if (Either.isLeft(parsed)) return parsed.left
  const result = resolveConfig({ file: { origin, value: parsed.right }, env: new Map(), runtime: new Map() })
  return Either.isLeft(result) ? result.left.join("\n") : "valid"
}

describe("the examples in docs/configuration.md", () => {
  const blocks = yamlBlocks(committed)

  it("are there", () => {
    expect(blocks.length).toBeGreaterThan(0)
  })

  it.each(blocks.map((yaml, index) => ({ yaml, name: `example ${index + 1} (${keysSetBy(Either.getOrNull(parseConfigText("example.yaml", yaml))).join(", ")})` })))(
    "$name is valid against the Schema",
    ({ name, yaml }) => {
      expect(problemsOf(`docs/configuration.md ${name}`, yaml)).toBe("valid")
    }
  )

  // An example is rendered only while its key exists: the tasks example waits for `scheduler.tasks`.
  for (const example of configExamples) {
    it.skipIf(!configKeysByDotted.has(example.key))(`the ${example.key} example is rendered and valid`, () => {
      expect(yamlBlocks(renderConfigurationDoc())).toContain(example.yaml)
      expect(problemsOf(`${example.key} example`, example.yaml)).toBe("valid")
    })
  }
})
