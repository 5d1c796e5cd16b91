import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Brand from "effect/Brand"
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
  // No permessage-deflate: a broadcast writes frames framed once straight to the sockets
  // (`frameText`), which is sound only while `ws` holds no frame back to compress it.
  new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false })
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

/** A text message framed once as a server sends it: the same bytes go to every subscriber's socket. */
export type TextFrame = Buffer & Brand.Brand<"TextFrame">
const TextFrame = Brand.nominal<TextFrame>()

/**
 * RFC 6455 §5.2: final fragment of a text message (0x81), unmasked as a server's frames are,
 * then the payload's length in 7 bits, or 16 or 64 after the marker 126 or 127. `ws` frames a
 * message anew on each send; a broadcast frames it here once.
 */
export const frameText = (payload: Buffer): TextFrame => {
  const length = payload.length
  const header = Buffer.alloc(length < 126 ? 2 : length < 65536 ? 4 : 10)
  header[0] = 0x81
  if (length < 126) header[1] = length
  else if (length < 65536) {
    header[1] = 126
    header.writeUInt16BE(length, 2)
  } else {
    header[1] = 127
    header.writeBigUInt64BE(BigInt(length), 2)
  }
  return TextFrame(Buffer.concat([header, payload]))
}
