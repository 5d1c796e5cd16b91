import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpServerError from "@effect/platform/HttpServerError"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as Queue from "effect/Queue"
import { type RawData, type WebSocket, WebSocketServer } from "ws"

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

/** What happens on an open socket, in order. */
export type SocketEvent =
  | { readonly _tag: "Message"; readonly data: string | Uint8Array }
  | { readonly _tag: "Pong" }
  | { readonly _tag: "Failed"; readonly error: Error }
  | { readonly _tag: "Closed" }

const bytesOf = (data: RawData): Uint8Array =>
  Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data

/**
 * Completes the WebSocket handshake of an upgrade request. Node gives the socket of an upgrade
 * request to the server's "upgrade" listeners and the platform passes the request to the route
 * as usual; it writes to that socket only once the route returns, after the WebSocket closed.
 * The socket's events are queued from the moment it opens, so nothing sent before the
 * connection reads them is lost. A handshake `ws` refuses (it answers 400 itself) fails here.
 */
export const acceptWebSocket = (
  server: WebSocketServer,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<{ readonly socket: WebSocket; readonly events: Queue.Dequeue<SocketEvent> }, HttpServerError.RequestError> =>
  Effect.flatMap(Queue.unbounded<SocketEvent>(), (events) =>
    Effect.async((resume) => {
      const incoming = NodeHttpServerRequest.toIncomingMessage(request)
      const refused = () =>
        resume(Effect.fail(new HttpServerError.RequestError({ request, reason: "Decode", description: "the WebSocket handshake was refused" })))
      incoming.socket.once("close", refused)
      // A WebSocket client sends nothing before the handshake is answered: no bytes follow the request's head.
      server.handleUpgrade(incoming, incoming.socket, Buffer.alloc(0), (socket) => {
        incoming.socket.off("close", refused)
        const push = (event: SocketEvent) => void Queue.unsafeOffer(events, event)
        socket.on("message", (data, isBinary) => push({ _tag: "Message", data: isBinary ? bytesOf(data) : data.toString() }))
        socket.on("pong", () => push({ _tag: "Pong" }))
        // A protocol error (bad frame, invalid UTF-8): `ws` closes the socket, and "close" follows.
        socket.on("error", (error) => push({ _tag: "Failed", error }))
        socket.once("close", () => push({ _tag: "Closed" }))
        resume(Effect.succeed({ socket, events }))
      })
      return Effect.sync(() => incoming.socket.off("close", refused))
    }))

/** Handles a socket's events in order, each message on a fiber of its own, until the socket closes. */
export const handleEvents = <R>(events: Queue.Dequeue<SocketEvent>, handlers: {
  readonly message: (data: string | Uint8Array) => Effect.Effect<void, never, R>
  readonly pong: Effect.Effect<void>
  readonly failed: (error: Error) => Effect.Effect<void>
}): Effect.Effect<void, never, R> =>
  Effect.scoped(Effect.gen(function*() {
    const run = yield* FiberSet.makeRuntime<R>()
    while (true) {
      const event = yield* Queue.take(events)
      switch (event._tag) {
        case "Message":
          run(handlers.message(event.data))
          break
        case "Pong":
          yield* handlers.pong
          break
        case "Failed":
          yield* handlers.failed(event.error)
          break
        case "Closed":
          return
      }
    }
  }))
