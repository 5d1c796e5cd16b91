import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { WebSocketServer } from "ws"
import { Caller, type CallerInfo } from "../auth/caller.js"
import { Tokens } from "../auth/tokens.js"
import { ConfigService } from "../config/service.js"
import { Lifecycle } from "../lifecycle/index.js"
import { Registry } from "../registry/service.js"
import { Kv } from "../kv/index.js"
import { Scheduler } from "../scheduler/service.js"
import { type ErrorBody, errorBodyOf, errorResponse, internalErrorBody, isTaggedFailure } from "../shared/api-error.js"
import { describeParseError } from "../shared/parse-error.js"
import { version } from "../shared/version.js"
import { EndpointBroadcast, layer as layerBroadcast } from "./broadcast.js"
import { connections, initialize as initializeMetrics } from "./metrics.js"
import { findCommand } from "./commands.js"
import { closeCodes, type Connection, encodeMessage } from "./connection.js"
import { layerHub, WebSocketHub } from "./hub.js"
import { InvalidJson, InvalidMessage, MessageTooLarge } from "./errors.js"
import { ClientMessage, type ServerMessage } from "./protocol.js"
import { acceptWebSocket, handleEvents, isUpgradeRequest, makeWebSocketServer } from "./socket.js"

/** A Buffer goes out as text too: it holds an encoded JSON message. */
const textFrame = { binary: false } as const

const errorBody = (error: unknown): ErrorBody => (isTaggedFailure(error) ? errorBodyOf(error) : internalErrorBody)

const decodeClientMessage = Schema.decodeUnknownEither(ClientMessage)

const parse = (text: string, maxBytes: number): Either.Either<ClientMessage, InvalidJson | InvalidMessage | MessageTooLarge> => {
  if (Buffer.byteLength(text) > maxBytes) {
    return Either.left(new MessageTooLarge({ message: `message larger than websocket.maxMessageBytes (${maxBytes} bytes)` }))
  }
  return Either.try({ try: () => JSON.parse(text) as unknown, catch: (e) => new InvalidJson({ message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` }) }).pipe(
    Either.flatMap((json) =>
      Either.mapLeft(decodeClientMessage(json), (error) =>
        new InvalidMessage({
          message: "expected {\"type\":\"command\",\"id\",\"command\",\"args\"} or {\"type\":\"auth\",\"token\"}: " +
            describeParseError(error)
        })))
  )
}

const idOf = (text: string): string | number | null => {
  const match = /"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)/.exec(text)
  if (match === null) return null
  return match[1]!.startsWith("\"") ? (JSON.parse(match[1]!) as string) : Number(match[1])
}

/** Runs one command as `who` and answers with its result, or with the error envelope. */
const runCommand = (
  message: Extract<ClientMessage, { type: "command" }>,
  who: CallerInfo,
  connection: Connection,
  context: Context.Context<Registry | ConfigService | Scheduler | EndpointBroadcast>
) => {
  const { send } = connection
  return Effect.gen(function*() {
    const run = yield* findCommand(message.command)
    return yield* run(message.args, connection)
  }).pipe(
    Effect.provideService(Caller, who),
    Effect.provide(context),
    Effect.matchCauseEffect({
      onSuccess: (outcome) =>
        Effect.zipRight(send({ id: message.id, type: "result", ok: true, data: outcome.data ?? null }), outcome.afterReply ?? Effect.void),
      onFailure: (cause) =>
        Option.match(Cause.failureOption(cause), {
          onSome: (error) => send({ id: message.id, type: "result", ok: false, error: errorBody(error) }),
          onNone: () =>
            Effect.zipRight(
              Effect.logError("WebSocket command failed", cause),
              send({ id: message.id, type: "result", ok: false, error: internalErrorBody })
            )
        })
    })
  )
}

/** One connection from upgrade to close. */
const serveConnection = (server: WebSocketServer, request: HttpServerRequest.HttpServerRequest, headerCaller: CallerInfo | undefined) =>
  Effect.gen(function*() {
    const { events, socket: ws } = yield* acceptWebSocket(server, request)
    const hub = yield* WebSocketHub
    const config = yield* ConfigService
    const tokens = yield* Tokens
    const lifecycle = yield* Lifecycle
    const registry = yield* Registry
    const context = yield* Effect.context<Registry | ConfigService | Scheduler | EndpointBroadcast>()
    const limits = (yield* config.current).websocket
    const id = yield* hub.nextId
    const caller = yield* Ref.make<CallerInfo | undefined>(headerCaller)
    const closed = yield* Deferred.make<{ readonly code: number; readonly reason: string; readonly terminate?: boolean }>()
    const subscriptions = yield* FiberMap.make<string>()
    const subscriptionCounter = yield* Ref.make(0)
    const lastPong = yield* Ref.make(yield* Clock.currentTimeMillis)

    const close = (code: number, reason: string) => Deferred.succeed(closed, { code, reason })
    /** For a peer that no longer reads: no closing handshake to wait for. */
    const terminate = (reason: string) => Deferred.succeed(closed, { code: closeCodes.policy, reason, terminate: true })
    const overflow = close(closeCodes.policy, `slow consumer: more than ${limits.outgoingQueue} messages unread`)
    /**
     * Messages go to the socket at once, in order. Each counts as outgoing until the socket has
     * written it; a reader that leaves more than `websocket.outgoingQueue` of them unread is
     * closed, and nobody else waits for it.
     */
    const outbox = { pending: 0 }
    const sendText = (text: string | Buffer): boolean => {
      if (ws.readyState !== ws.OPEN) return true
      if (outbox.pending >= limits.outgoingQueue) return false
      outbox.pending++
      ws.send(text, textFrame, () => outbox.pending--)
      return true
    }
    const send = (message: ServerMessage) => Effect.suspend(() => (sendText(encodeMessage(message)) ? Effect.void : overflow))

    const connection: Connection = {
      id,
      caller,
      send,
      sendText,
      overflow,
      subscriptions,
      nextSubscriptionId: Effect.map(Ref.updateAndGet(subscriptionCounter, (n) => n + 1), (n) => `sub-${n}`)
    }

    const onMessage = (data: string | Uint8Array) =>
      Effect.gen(function*() {
        const text = typeof data === "string" ? data : new TextDecoder().decode(data)
        const parsed = parse(text, limits.maxMessageBytes)
        if (Either.isLeft(parsed)) {
          return yield* send({ id: idOf(text), type: "result", ok: false, error: errorBody(parsed.left) })
        }
        const message = parsed.right
        const who = yield* Ref.get(caller)
        if (message.type === "auth") {
          const found = yield* tokens.authenticate(message.token.trim())
          if (Option.isNone(found)) {
            yield* send({ type: "auth", ok: false, error: { code: "unauthorized", message: "unknown or revoked token" } })
            return yield* close(closeCodes.policy, "authentication failed")
          }
          yield* Ref.set(caller, found.value)
          return yield* send({ type: "auth", ok: true, name: found.value.name ?? "", roles: [...found.value.roles] })
        }
        if (who === undefined) {
          return yield* send({
            id: message.id,
            type: "result",
            ok: false,
            error: { code: "unauthorized", message: "authenticate first: send {\"type\":\"auth\",\"token\":\"...\"}" }
          })
        }
        yield* runCommand(message, who, connection, context)
      })

    const keepAlive = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - (yield* Ref.get(lastPong)) > Duration.toMillis(limits.pingInterval) + Duration.toMillis(limits.pongTimeout)) {
        yield* Effect.logInfo(`closing WebSocket ${id}: no answer to pings`)
        return yield* terminate("no answer to pings")
      }
      if (ws.readyState === ws.OPEN) ws.ping()
    })

    const authDeadline = Effect.gen(function*() {
      yield* Effect.sleep(limits.authTimeout)
      if ((yield* Ref.get(caller)) === undefined) yield* close(closeCodes.policy, "authentication timeout")
    })

    /** On shutdown: stop subscriptions, let the queue drain (briefly), then close with 1001. */
    const goAway = Effect.gen(function*() {
      yield* FiberMap.clear(subscriptions)
      yield* Effect.repeat(Effect.sync(() => outbox.pending), { until: (pending) => pending === 0, schedule: Schedule.spaced("10 millis") }).pipe(
        Effect.timeout("2 seconds"),
        Effect.ignore
      )
      yield* close(closeCodes.goingAway, "server shutting down")
    })

    const session = Effect.scoped(Effect.gen(function*() {
      yield* send({ type: "hello", version, authenticated: headerCaller !== undefined })
      yield* hub.join(id, { keepAlive, goAway })
      if (headerCaller === undefined) yield* Effect.forkScoped(authDeadline)
      const { code, reason, terminate: abrupt } = yield* Deferred.await(closed)
      // What was already handed to the socket goes out before the close frame.
      if (abrupt === true) ws.terminate()
      else ws.close(code, reason)
    }))

    const pump = Effect.scoped(Effect.zipRight(
      Effect.forkScoped(session),
      handleEvents(events, {
        message: (data) => onMessage(data).pipe(Effect.catchAllCause((cause) => Effect.logError(`WebSocket ${id}: message not handled`, cause))),
        pong: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastPong, now)),
        failed: (error) => Effect.logInfo(`WebSocket ${id}: ${error.message}`)
      })
    ))

    yield* Ref.update(hub.open, (n) => n + 1)
    yield* Metric.increment(connections)
    yield* pump.pipe(
      lifecycle.hold,
      Effect.ensuring(Effect.all([
        Ref.update(hub.open, (n) => n - 1),
        Metric.incrementBy(connections, -1),
        FiberMap.clear(subscriptions),
        registry.removeConnection(id).pipe(Effect.catchAll((e) => Effect.logError(`ephemeral endpoints of ${id} not removed: ${e.message}`)))
      ]))
    )
  })


/** `GET /v1/ws`: checks the limits and an Authorization header, then upgrades. */
const upgrade = (server: WebSocketServer) => Effect.gen(function*() {
  const request = yield* HttpServerRequest.HttpServerRequest
  if (request.headers["upgrade"]?.toLowerCase() !== "websocket") {
    return errorResponse(426, "upgrade_required", "this is the WebSocket endpoint: connect with a WebSocket client")
  }
  const hub = yield* WebSocketHub
  const config = yield* ConfigService
  const lifecycle = yield* Lifecycle
  const tokens = yield* Tokens
  if (yield* lifecycle.isShuttingDown) return errorResponse(503, "shutting_down", "the server is shutting down")
  const { maxConnections } = (yield* config.current).websocket
  if ((yield* Ref.get(hub.open)) >= maxConnections) {
    return errorResponse(503, "too_many_connections", `at most ${maxConnections} WebSocket connections (websocket.maxConnections)`)
  }
  const header = request.headers["authorization"]
  let caller: CallerInfo | undefined
  if (header !== undefined) {
    const token = header.replace(/^Bearer\s+/i, "").trim()
    const found = yield* tokens.authenticate(token)
    if (Option.isNone(found)) return errorResponse(401, "unauthorized", "unknown or revoked token")
    caller = found.value
  }
  if (!isUpgradeRequest(request)) {
    return errorResponse(400, "invalid_request", "not a WebSocket handshake: send Connection: Upgrade, Upgrade: websocket and the Sec-WebSocket-* headers")
  }
  yield* serveConnection(server, request, caller)
  return HttpServerResponse.empty()
})

/** The WebSocket endpoint, on the same server and port as the HTTP API. */
export const layerWebSocketRoute = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<WebSocketHub | ConfigService | Tokens | Lifecycle | Registry | Scheduler | EndpointBroadcast | Kv>()
    yield* initializeMetrics
    const server = yield* makeWebSocketServer
    yield* router.get("/v1/ws", Effect.provide(upgrade(server), context))
  })
).pipe(Layer.provide([layerHub, layerBroadcast]))
