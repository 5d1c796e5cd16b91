export { anonymous, Caller, type CallerInfo, checkRole, hasRole, requireRole, requireService } from "./caller.js"
export { Forbidden, Unauthorized } from "./errors.js"
export { Authentication, callerOfHeader, layer as layerAuthentication, RequireAdmin, RequireRegister } from "./middleware.js"
export { bootstrapTokenFile, layer as layerTokens, Tokens } from "./tokens.js"
