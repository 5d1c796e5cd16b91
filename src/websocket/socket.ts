import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { type RawData, type WebSocket, WebSocketServer } from "ws"
import { HandshakeRefused } from "./errors.js"

/**
 * The `ws` server that completes the handshakes of `/v1/ws`. It opens no port and tracks no
 * clients: the HTTP server hands it each upgrade request, and the connection keeps its socket.
 * `ws` itself, rather than the platform's Socket, because the channel needs what Socket hides:
 * send callbacks (to notice a slow reader), protocol-level pings, and terminating a dead peer.
 */
export const makeWebSocketServer: Effect.Effect<WebSocketServer> = Effect.sync(() =>
  new WebSocketServer({ noServer: true, clientTracking: false })
)

/** Whether Node received the request as an upgrade (`Connection: Upgrade`), so its socket may be taken over. */
export const isUpgradeRequest = (request: HttpServerRequest.HttpServerRequest): boolean =>
  (NodeHttpServerRequest.toIncomingMessage(request) as { readonly upgrade?: unknown }).upgrade === true

/**
 * Completes the WebSocket handshake of an upgrade request (`ws` answers a malformed one with 400
 * itself, and this fails), and gives the socket paused. Node has handed the request's socket over: nothing but the handshake
 * may write to it. A WebSocket client sends nothing before the handshake is answered, so `head`
 * is empty unless the server read ahead.
 */
export const handshake = (
  server: WebSocketServer,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer
): Effect.Effect<WebSocket, HandshakeRefused> =>
  Effect.async((resume) => {
    const refused = () => resume(Effect.fail(new HandshakeRefused({ message: "the WebSocket handshake was refused" })))
    socket.once("close", refused)
    server.handleUpgrade(request, socket, head, (ws) => {
      socket.off("close", refused)
      // Nothing is read until the connection has its listeners (`ws.resume()`), so no message is missed.
      ws.pause()
      resume(Effect.succeed(ws))
    })
    return Effect.sync(() => socket.off("close", refused))
  })

/** A message's text: a binary frame is read as UTF-8 too, as every message is JSON. */
export const textOf = (data: RawData): string =>
  (Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? Buffer.from(data) : data).toString()
