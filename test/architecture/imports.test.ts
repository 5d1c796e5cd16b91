import { readdirSync, readFileSync } from "node:fs"
import { join, posix, sep } from "node:path"
import { describe, expect, it } from "vitest"
import { repoRoot } from "../support/miko.js"

/**
 * Imports point down only: the layers of docs/architecture.md, bottom first. A unit is a folder
 * of src/ or a file at its root. Units on one line are siblings: neither imports the other,
 * except through a seam listed below.
 */
const layers: ReadonlyArray<ReadonlyArray<string>> = [
  ["shared", "lifecycle"],
  ["storage"],
  ["config"],
  ["telemetry"],
  ["auth"],
  ["cluster"],
  ["kv"],
  ["scheduler"],
  ["registry"],
  ["http", "websocket", "cli"],
  // The composition root.
  ["service.ts"],
  ["main.ts", "index.ts"]
]

interface Import {
  /** Both paths relative to src/, with forward slashes. */
  readonly file: string
  readonly target: string
}

interface Allowance {
  readonly from: RegExp
  readonly to: RegExp
  readonly why: string
}

/** The documented exceptions (docs/architecture.md). */
const exceptions: ReadonlyArray<Allowance> = [
  {
    from: /^[a-z-]+\/(http|operations)\.ts$/,
    to: /^auth\//,
    why: "a capability's HTTP/WebSocket face (its http.ts and operations.ts) uses auth"
  },
  { from: /^config\/schema\.ts$/, to: /^scheduler\/schema\.ts$/, why: "the config Schema composes the task Schemas" },
  { from: /^http\/server\.ts$/, to: /^websocket\/server\.ts$/, why: "the HTTP server, the one listener, mounts the WebSocket route and takes its upgrades" },
  { from: /^cli\//, to: /^http\/api\.ts$/, why: "the CLI derives its typed client from the HTTP API's description" }
]

/** Known violations in files being reworked elsewhere; each to be fixed, then removed from here. */
const pending: ReadonlyArray<Allowance> = []

const unitOf = (path: string): string => path.split("/")[0] ?? path

const rankOf = (unit: string): number | undefined => {
  const rank = layers.findIndex((layer) => layer.includes(unit))
  return rank === -1 ? undefined : rank
}

const allowedBy = (list: ReadonlyArray<Allowance>, edge: Import) => list.some((a) => a.from.test(edge.file) && a.to.test(edge.target))

/** What is wrong with one import, or undefined when it points down (or stays in its unit). */
const violationOf = (edge: Import): string | undefined => {
  const from = unitOf(edge.file)
  const to = unitOf(edge.target)
  if (from === to) return undefined
  const fromRank = rankOf(from)
  const toRank = rankOf(to)
  if (fromRank === undefined) return `${from} is in no layer: place it in docs/architecture.md and in this test`
  if (toRank === undefined) return `${to} is in no layer: place it in docs/architecture.md and in this test`
  if (toRank < fromRank || allowedBy(exceptions, edge) || allowedBy(pending, edge)) return undefined
  return toRank > fromRank ? `${to} sits above ${from}` : `${from} and ${to} are siblings in one layer`
}

const specifiers = /(?:\bfrom|\bimport)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g

/** Every relative import of every .ts (or .tsx) file under src/. */
const importsUnder = (src: string): ReadonlyArray<Import> => {
  const files = readdirSync(src, { recursive: true, encoding: "utf8" }).filter((name) => /\.tsx?$/.test(name))
  return files.flatMap((name) => {
    const file = name.split(sep).join("/")
    return [...readFileSync(join(src, name), "utf8").matchAll(specifiers)].map((match) => ({
      file,
      target: posix.normalize(posix.join(posix.dirname(file), match[1] ?? "")).replace(/\.js$/, ".ts")
    }))
  })
}

const src = join(repoRoot, "src")

describe("imports point down only", () => {
  it("no file under src/ imports a layer above its own, nor a sibling outside the documented seams", () => {
    const found = importsUnder(src).flatMap((edge) => {
      const why = violationOf(edge)
      return why === undefined ? [] : [`src/${edge.file} imports src/${edge.target}: ${why}`]
    })
    expect(found).toEqual([])
  })

  it("every folder and root file of src/ has its place", () => {
    const units = readdirSync(src, { withFileTypes: true }).map((entry) => entry.name)
    expect(units.filter((unit) => rankOf(unit) === undefined)).toEqual([])
  })

  it("every allowance still matches an import, so none outlives its reason", () => {
    const edges = importsUnder(src)
    const unused = [...exceptions, ...pending].filter((a) => !edges.some((edge) => a.from.test(edge.file) && a.to.test(edge.target)))
    expect(unused.map((a) => a.why)).toEqual([])
  })

  it.each(["console/src", "sdk/ts/src"])("%s (the web console, the TypeScript SDK) imports nothing outside itself, so nothing of src/", (client) => {
    const outside = importsUnder(join(repoRoot, client)).filter((edge) => edge.target.startsWith("../"))
    expect(outside.map((edge) => `${client}/${edge.file} imports ${edge.target}`)).toEqual([])
  })

  it("the check itself catches an upward and a sideways import", () => {
    expect(violationOf({ file: "storage/sqlite.ts", target: "config/load.ts" })).toBe("config sits above storage")
    expect(violationOf({ file: "websocket/server.ts", target: "http/server.ts" })).toBe("websocket and http are siblings in one layer")
    expect(violationOf({ file: "registry/http.ts", target: "auth/caller.ts" })).toBeUndefined()
    expect(violationOf({ file: "config/http.ts", target: "auth/caller.ts" })).toBeUndefined()
    expect(violationOf({ file: "config/service.ts", target: "auth/tokens.ts" })).toBe("auth sits above config")
  })
})
