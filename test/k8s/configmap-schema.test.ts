import { describe, expect, it } from "vitest"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { parseConfigText, resolveConfig } from "../../src/config/index.js"
import { repoRoot } from "../support/miko.js"

describe("the ConfigMap's config.yaml", () => {
  it("decodes with Miko's own config Schema, as a cluster needs it", () => {
    const path = join(repoRoot, "k8s", "base", "config.yaml")
    const parsed = Either.getOrThrow(parseConfigText(path, readFileSync(path, "utf8")))
    const result = resolveConfig({ file: { origin: `config file ${path}`, value: parsed }, env: new Map(), runtime: new Map() })
    expect(Either.isLeft(result) ? result.left.join("\n") : "valid").toBe("valid")
    const config = Either.getOrThrow(result).config
    expect(config.http.host).toBe("0.0.0.0")
    expect(config.general.logFormat).toBe("json")
    expect(config.general.dataDir).toBe("/var/lib/miko")
    expect(config.auth.tokens.every((token) => token.secret === undefined)).toBe(true)
  })

  it("of the ha overlay decodes too, with PostgreSQL storage and the URL from an env var", () => {
    const path = join(repoRoot, "k8s", "overlays", "ha", "config.yaml")
    const parsed = Either.getOrThrow(parseConfigText(path, readFileSync(path, "utf8")))
    const result = resolveConfig({ file: { origin: `config file ${path}`, value: parsed }, env: new Map(), runtime: new Map() })
    expect(Either.isLeft(result) ? result.left.join("\n") : "valid").toBe("valid")
    const config = Either.getOrThrow(result).config
    expect(config.storage.driver).toBe("postgres")
    expect(config.storage.postgres.url).toBeUndefined()
    expect(config.storage.postgres.secretEnv).toBe("DATABASE_URL")
  })
})
