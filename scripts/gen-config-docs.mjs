// Writes docs/configuration.md from the config Schema. Run it with `npm run docs:config`, which
// builds dist/ first; the rendering itself is src/config/docs/ (render.ts), which nothing at run time imports.
import { writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { renderConfigurationDoc } from "../dist/config/docs/render.js"

const target = fileURLToPath(new URL("../docs/configuration.md", import.meta.url))
writeFileSync(target, renderConfigurationDoc())
console.log("wrote docs/configuration.md")
