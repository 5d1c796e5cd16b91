// Builds the web console (console/) into dist/console/: one script and one stylesheet with
// content hashes in their names, and index.html naming them. Miko serves these files from
// memory at /ui (src/http/console.ts). Fails when the script outgrows its budget.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { basename } from "node:path"
import { gzipSync } from "node:zlib"
import { build } from "esbuild"

const out = "dist/console"
const scriptBudget = 100 * 1024

rmSync(out, { recursive: true, force: true })
mkdirSync(`${out}/assets`, { recursive: true })

const result = await build({
  entryPoints: ["console/src/main.tsx"],
  outdir: `${out}/assets`,
  entryNames: "console-[hash]",
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  minify: true,
  jsx: "automatic",
  jsxImportSource: "preact",
  tsconfig: "console/tsconfig.json",
  metafile: true,
  legalComments: "none",
  logLevel: "warning"
})

const outputs = Object.keys(result.metafile.outputs)
const script = outputs.find((name) => name.endsWith(".js"))
const style = outputs.find((name) => name.endsWith(".css"))
if (script === undefined || style === undefined) throw new Error("the console build wrote no script or no stylesheet")

const gzipped = gzipSync(readFileSync(script)).length
if (gzipped > scriptBudget) throw new Error(`the console script is ${gzipped} bytes gzipped, over its budget of ${scriptBudget}`)

const html = readFileSync("console/index.html", "utf8").replace("%SCRIPT%", basename(script)).replace("%STYLE%", basename(style))
writeFileSync(`${out}/index.html`, html)
