// Bundles the binary into one ES module: loading one file instead of hundreds of small
// modules is what keeps `miko serve` ready in well under a second. What only a dynamic import
// asks for (the Swagger UI page of /docs, megabytes of script) goes to a chunk of its own in
// dist/chunks/, loaded when first needed.
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { build } from "esbuild"

rmSync("dist/chunks", { recursive: true, force: true })
const { metafile } = await build({
  entryPoints: { miko: "dist/main.js" },
  outdir: "dist",
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  outExtension: { ".js": ".mjs" },
  splitting: true,
  metafile: true,
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
for (const file of Object.keys(metafile.outputs).filter((name) => name.endsWith(".mjs"))) {
  const bundle = readFileSync(file, "utf8")
  for (const line of bundle.split("\n")) {
    const at = line.search(/[^\x00-\x7f]/)
    if (at !== -1 && !/\/\/|^\s*\*|\/\*/.test(line.slice(0, at))) throw new Error(`non-ASCII outside a comment in ${file}: ${line.trim().slice(0, 120)}`)
  }
  if (/[^\x00-\x7f]/.test(bundle)) writeFileSync(file, bundle.replace(/[^\x00-\x7f]/g, "?"))
}
