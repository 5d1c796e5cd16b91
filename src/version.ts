/**
 * The release now lives in ./shared/version.ts, where every layer may import it. This re-export
 * stays only until src/cli/commands.ts imports it from there.
 */
export { version } from "./shared/version.js"
