export { CliError, request, resolveTarget, type Target } from "./client.js"
export { type CliEnvironment, makeCli } from "./commands.js"
