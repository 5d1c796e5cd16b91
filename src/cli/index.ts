export { CliError, exitCodes, type FailureKind } from "./errors.js"
export { type CliEnvironment, makeCli } from "./commands.js"
export { resolveTarget, type Target } from "./target.js"
export { connect, type Miko, type MikoClient } from "./transport.js"
