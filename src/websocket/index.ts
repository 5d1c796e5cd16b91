export { commands, findCommand } from "./commands.js"
export type { Connection } from "./connection.js"
export * from "./errors.js"
export {
  AuthMessage,
  AuthResult,
  ClientMessage,
  CommandMessage,
  EventMessage,
  HelloMessage,
  ResultError,
  ResultOk,
  ServerMessage,
  SubscribeArgs
} from "./protocol.js"
export { layerHub, type Member, WebSocketHub } from "./hub.js"
export { layerWebSocketRoute } from "./server.js"
