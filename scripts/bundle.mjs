// Bundles the binary into one ES module: loading one file instead of hundreds of small
// modules is what keeps `miko serve` ready in well under a second.
import { readFileSync, writeFileSync } from "node:fs"
import { build } from "esbuild"

await build({
  entryPoints: ["dist/main.js"],
  outfile: "dist/miko.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  minifySyntax: true,
  sourcemap: "linked",
  // Native code, and the telemetry SDK that is loaded only when an OTLP endpoint is configured.
  external: ["better-sqlite3", "@opentelemetry/*", "@effect/opentelemetry", "@effect/opentelemetry/*"],
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: "warning"
})

// esbuild escapes every non-ASCII character in code, but comments it keeps (a dependency's em dash)
// may still hold some, and one is enough for V8 to keep the whole 4 MB source as two bytes per
// character. Left only in comments, each becomes "?" (one for one, so the source map still fits).
const bundle = readFileSync("dist/miko.mjs", "utf8")
for (const line of bundle.split("\n")) {
  const at = line.search(/[^\x00-\x7f]/)
  if (at !== -1 && !/\/\/|^\s*\*|\/\*/.test(line.slice(0, at))) throw new Error(`non-ASCII outside a comment in the bundle: ${line.trim().slice(0, 120)}`)
}
if (/[^\x00-\x7f]/.test(bundle)) writeFileSync("dist/miko.mjs", bundle.replace(/[^\x00-\x7f]/g, "?"))
