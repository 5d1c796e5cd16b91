import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/miko.js"

const sdkRoot = join(repoRoot, "sdk", "ts", "src")

const sources = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** Every module specifier: static imports and re-exports, side-effect imports, dynamic imports. */
const specifiers = (text: string): Array<string> => [
  ...[...text.matchAll(/\b(?:import|export)\s[^'"]*?\bfrom\s*["']([^"']+)["']/g)].map((m) => m[1]!),
  ...[...text.matchAll(/\bimport\s*["']([^"']+)["']/g)].map((m) => m[1]!),
  ...[...text.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!),
  ...[...text.matchAll(/\brequire\s*\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]!)
]

/** The SDK depends on the wire protocol only: Effect, the Effect platform and Node's built-ins. */
const allowed = (file: string, specifier: string) => {
  if (specifier.startsWith(".")) {
    const target = resolve(dirname(file), specifier)
    return !relative(sdkRoot, target).startsWith("..") && specifier.endsWith(".js")
  }
  return /^effect(\/[A-Za-z]+)?$/.test(specifier) || /^@effect\/platform\/[A-Za-z]+$/.test(specifier) || specifier.startsWith("node:")
}

describe("the SDK's imports", () => {
  const files = sources(sdkRoot)

  it("finds the SDK's sources", () => {
    expect(files.map((file) => relative(sdkRoot, file))).toContain("index.ts")
  })

  it("reach only effect, @effect/platform, Node built-ins and the SDK's own modules", () => {
    const offending = files.flatMap((file) =>
      specifiers(readFileSync(file, "utf8"))
        .filter((specifier) => !allowed(file, specifier))
        .map((specifier) => `${relative(repoRoot, file)}: ${specifier}`)
    )
    expect(offending).toEqual([])
  })

  it("the scan catches an import from the server's code", () => {
    const file = join(sdkRoot, "client.ts")
    expect(specifiers(`import { Endpoint } from "../../../src/registry/model.js"`).filter((s) => !allowed(file, s))).toEqual(["../../../src/registry/model.js"])
    expect(specifiers(`import type { X } from "@effect/schema"`).filter((s) => !allowed(file, s))).toEqual(["@effect/schema"])
    expect(specifiers(`export * from "yaml"`).filter((s) => !allowed(file, s))).toEqual(["yaml"])
  })
})
