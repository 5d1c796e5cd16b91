import * as Effect from "effect/Effect"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "../lifecycle/index.js"

/** The connections of one Node HTTP server, as a shutdown has to deal with them. */
export interface Connections {
  /** Shutdown began: every answer from now on closes its connection instead of keeping it alive. */
  readonly stopKeepAlive: () => void
  /** The shutdown deadline passed: destroys every connection still open, and any accepted later. Says how many. */
  readonly destroyAll: () => number
}

interface State {
  keepAlive: boolean
  closing: boolean
  destroyed: boolean
}

/** As `/readyz` answers while not ready, in the API's error envelope. */
const notServing = (response: ServerResponse) => {
  response.writeHead(503, { "content-type": "application/json", connection: "close" })
  response.end(JSON.stringify({ error: { code: "not_ready", message: "not serving requests: starting or shutting down" } }))
}

/**
 * Follows every socket from accept to close: Node's own bookkeeping leaves out upgraded
 * (WebSocket) sockets, and its `closeAllConnections` is all or nothing.
 */
const trackSockets = (server: Server, state: State, sockets: Set<Socket>) =>
  server.on("connection", (socket: Socket) => {
    if (state.destroyed) {
      socket.destroy()
      return
    }
    sockets.add(socket)
    socket.once("close", () => sockets.delete(socket))
  })

/**
 * Registered before the API's listener, so it sees each request first. While shutting down, an
 * answer closes its connection: a client then cannot hold it past the server's close. A request
 * that finds no other listener arrived before the API started serving or after it stopped, on a
 * connection opened earlier: nothing else would ever answer it.
 */
const guardRequests = (server: Server, state: State) =>
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (!state.keepAlive) response.setHeader("connection", "close")
    // An answer sent in the old keep-alive manner, finishing after the close: Node would keep
    // the connection for `keepAliveTimeout` more, and the close would wait for it.
    response.once("finish", () => {
      if (state.closing) request.socket.destroySoon()
    })
    if (server.listenerCount("request") === 1) notServing(response)
  })

/**
 * Node's `server.close()` stops accepting and closes idle keep-alive connections, then waits for
 * the others to end. It counts a connection that has not sent a byte as one whose first request
 * is under way, and the `headersTimeout` check that would end it stops with the close: the close
 * would wait for it forever (a client that connects ahead of need, a probe, a client abandoning
 * its attempt half-way). Such a connection has nothing to lose, so it is closed with the idle ones.
 */
const closeSilentOnClose = (server: Server, state: State, sockets: Set<Socket>) => {
  const close = server.close.bind(server)
  server.close = (callback) => {
    state.closing = true
    for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy()
    return close(callback)
  }
}

/** Instruments a server, before it listens, so that its close cannot be held open by a client. */
export const trackConnections = (server: Server): Connections => {
  const state: State = { keepAlive: true, closing: false, destroyed: false }
  const sockets = new Set<Socket>()
  trackSockets(server, state, sockets)
  guardRequests(server, state)
  closeSilentOnClose(server, state, sockets)
  return {
    stopKeepAlive: () => {
      state.keepAlive = false
    },
    destroyAll: () => {
      state.destroyed = true
      const count = sockets.size
      for (const socket of sockets) socket.destroy()
      return count
    }
  }
}

/**
 * Holds a server's connections to `general.shutdownTimeout`, like running tasks: from the start
 * of a shutdown, answers close their connections; when the timeout has passed, whatever is still
 * open (a request still arriving, a WebSocket peer that does not answer the closing handshake) is
 * destroyed, so the server's close, and the shutdown behind it, can finish. Runs in the server
 * layer's scope, which outlives the server's close.
 */
export const closeConnectionsOnShutdown = (server: Server) =>
  Effect.gen(function*() {
    const lifecycle = yield* Lifecycle
    const config = yield* ConfigService
    const connections = trackConnections(server)
    yield* Effect.forkScoped(Effect.gen(function*() {
      yield* lifecycle.shutdown
      connections.stopKeepAlive()
      yield* Effect.sleep((yield* config.current).general.shutdownTimeout)
      const destroyed = connections.destroyAll()
      if (destroyed > 0) yield* Effect.logWarning(`closed ${destroyed} connection(s) still open after general.shutdownTimeout`)
    }))
  })
