import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import { type IncomingHttpHeaders, type IncomingMessage, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import type { CallerInfo } from "../auth/caller.js"
import { Tokens } from "../auth/tokens.js"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "../lifecycle/index.js"
import { errorResponse } from "../shared/api-error.js"
import { layer as layerBroadcast } from "./broadcast.js"
import { layerHub, WebSocketHub } from "./hub.js"
import { initialize as initializeMetrics } from "./metrics.js"
import { type SessionServices, startSession } from "./session.js"
import type { HandshakeRefused } from "./errors.js"
import { handshake, isUpgradeRequest, makeWebSocketServer } from "./socket.js"

/** Why an upgrade is refused, in the API's error envelope. */
interface Refusal {
  readonly status: number
  readonly code: string
  readonly message: string
}

const refused = (status: number, code: string, message: string): Either.Either<CallerInfo | undefined, Refusal> =>
  Either.left({ status, code, message })

/** Checks the limits and an Authorization header: the caller it names (undefined: none yet), or why not. */
const admit = (headers: IncomingHttpHeaders) =>
  Effect.gen(function*() {
    const hub = yield* WebSocketHub
    const config = yield* ConfigService
    const lifecycle = yield* Lifecycle
    const tokens = yield* Tokens
    if (yield* lifecycle.isShuttingDown) return refused(503, "shutting_down", "the server is shutting down")
    const { maxConnections } = (yield* config.current).websocket
    if ((yield* Ref.get(hub.open)) >= maxConnections) {
      return refused(503, "too_many_connections", `at most ${maxConnections} WebSocket connections (websocket.maxConnections)`)
    }
    const header = headers["authorization"]
    if (header === undefined) return Either.right(undefined)
    const found = yield* tokens.authenticate(header.replace(/^Bearer\s+/i, "").trim())
    return Option.match(found, { onNone: () => refused(401, "unauthorized", "unknown or revoked token"), onSome: Either.right })
  })

/**
 * Admits and opens WebSocket connections, for the route and the upgrade handler alike. Each
 * connection runs in a scope of its own under the layer's, so whatever is left open when the
 * server stops is closed with it.
 */
class WebSocketSessions extends Context.Tag("miko/websocket/WebSocketSessions")<WebSocketSessions, {
  readonly run: <A, E>(effect: Effect.Effect<A, E, SessionServices>) => unknown
  readonly admit: (headers: IncomingHttpHeaders) => Effect.Effect<Either.Either<CallerInfo | undefined, Refusal>>
  /** Completes the handshake and starts the connection; the effect it returns completes when the connection closes. */
  readonly open: (
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    caller: CallerInfo | undefined
  ) => Effect.Effect<Effect.Effect<void>, HandshakeRefused>
}>() {}

const makeSessions = Effect.gen(function*() {
  const server = yield* makeWebSocketServer
  const run = yield* FiberSet.makeRuntime<SessionServices>()
  const parent = yield* Effect.scope
  const context = yield* Effect.context<SessionServices>()
  yield* initializeMetrics
  const open = (request: IncomingMessage, socket: Duplex, head: Buffer, caller: CallerInfo | undefined) =>
    Effect.gen(function*() {
      const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
      const ws = yield* handshake(server, request, socket, head).pipe(Effect.tapError(() => Scope.close(scope, Exit.void)))
      return yield* startSession(ws, socket, caller, scope, run)
    }).pipe(Effect.provide(context))
  return WebSocketSessions.of({ run, admit: (headers) => Effect.provide(admit(headers), context), open })
})

/**
 * One set of sessions per service, with the hub and the broadcast they share: the route's, and
 * what the upgrade handler needs beside the service's capabilities.
 */
export const layerSessions = Layer.scoped(WebSocketSessions, makeSessions).pipe(Layer.provide([layerHub, layerBroadcast]))

const notWebSocket = () => errorResponse(426, "upgrade_required", "this is the WebSocket endpoint: connect with a WebSocket client")

/**
 * `GET /v1/ws` as a route, for a server that runs the API as a whole (an embedding app's):
 * checks the limits and an Authorization header, then upgrades. The platform writes the
 * route's answer to the socket once the route returns, so the route waits for the close.
 */
export const layerWebSocketRoute = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const sessions = yield* WebSocketSessions
    yield* router.get("/v1/ws", Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (request.headers["upgrade"]?.toLowerCase() !== "websocket") return notWebSocket()
      const admitted = yield* sessions.admit(request.headers)
      if (Either.isLeft(admitted)) return errorResponse(admitted.left.status, admitted.left.code, admitted.left.message)
      if (!isUpgradeRequest(request)) {
        return errorResponse(400, "invalid_request", "not a WebSocket handshake: send Connection: Upgrade, Upgrade: websocket and the Sec-WebSocket-* headers")
      }
      const incoming = NodeHttpServerRequest.toIncomingMessage(request)
      yield* sessions.open(incoming, incoming.socket, Buffer.alloc(0), admitted.right).pipe(Effect.flatten, Effect.ignore)
      return HttpServerResponse.empty()
    }))
  })
).pipe(Layer.provide(layerSessions))

/** A refused upgrade: an HTTP answer on the raw socket, which then closes. */
const refuse = (socket: Duplex, { code, message, status }: Refusal) => {
  const body = JSON.stringify({ error: { code, message } })
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `connection: close\r\n\r\n${body}`
  )
}

/**
 * `/v1/ws` for Miko's own server: the upgrade is taken from Node before the HTTP API sees it,
 * so an open connection holds no request fiber and none of the API's middleware, only its
 * socket, its state and its subscriptions. Anything else (a plain GET, another path) goes on to
 * the API, where the route above answers it.
 */
export const makeUpgradeHandler: Effect.Effect<
  (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean,
  never,
  WebSocketSessions
> = Effect.map(
  WebSocketSessions,
  (sessions) => (request, socket, head) => {
    const path = request.url?.split("?", 1)[0]
    if (path !== "/v1/ws" || request.headers.upgrade?.toLowerCase() !== "websocket") return false
    sessions.run(Effect.flatMap(
      sessions.admit(request.headers),
      Either.match({
        onLeft: (refusal) => Effect.sync(() => refuse(socket, refusal)),
        onRight: (caller) => Effect.ignore(sessions.open(request, socket, head, caller))
      })
    ))
    return true
  }
)
