// Bundles the binary into one ES module: loading one file instead of hundreds of small
// modules is what keeps `miko serve` ready in well under a second.
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
