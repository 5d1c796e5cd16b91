import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type { WebSocket } from "ws"
import type { Duplex } from "node:stream"
import type { CallerInfo } from "../auth/caller.js"
import { Caller } from "../auth/caller.js"
import { Tokens } from "../auth/tokens.js"
import { ConfigService } from "../config/service.js"
import { Kv } from "../kv/index.js"
import { Lifecycle } from "../lifecycle/index.js"
import { Registry } from "../registry/service.js"
import { Scheduler } from "../scheduler/service.js"
import { type ErrorBody, errorBodyOf, internalErrorBody, isTaggedFailure } from "../shared/api-error.js"
import { describeParseError } from "../shared/parse-error.js"
import { version } from "../shared/version.js"
import { EndpointBroadcast } from "./broadcast.js"
import { findCommand } from "./commands.js"
import { closeCodes, type Connection, encodeMessage } from "./connection.js"
import { InvalidJson, InvalidMessage, MessageTooLarge } from "./errors.js"
import { WebSocketHub } from "./hub.js"
import { ClientMessage, type ServerMessage } from "./protocol.js"
import { textOf, type TextFrame } from "./socket.js"
import { makeSubscriptionTable } from "./subscription-table.js"

/** What a connection uses while it is open. */
export type SessionServices = WebSocketHub | ConfigService | Tokens | Lifecycle | Registry | Scheduler | EndpointBroadcast | Kv

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
const runCommand = (message: Extract<ClientMessage, { type: "command" }>, who: CallerInfo, connection: Connection) =>
  Effect.gen(function*() {
    const run = yield* findCommand(message.command)
    return yield* run(message.args, connection)
  }).pipe(
    Effect.provideService(Caller, who),
    Effect.matchCauseEffect({
      onSuccess: (outcome) =>
        Effect.zipRight(connection.send({ id: message.id, type: "result", ok: true, data: outcome.data ?? null }), outcome.afterReply ?? Effect.void),
      onFailure: (cause) =>
        Option.match(Cause.failureOption(cause), {
          onSome: (error) => connection.send({ id: message.id, type: "result", ok: false, error: errorBody(error) }),
          onNone: () =>
            Effect.zipRight(
              Effect.logError("WebSocket command failed", cause),
              connection.send({ id: message.id, type: "result", ok: false, error: internalErrorBody })
            )
        })
    })
  )

/**
 * A connection's counters and holds, released when its scope closes, whatever closed it. Plain
 * finalizers of the scope rather than `acquireRelease`, which would keep a copy of the fiber's
 * state per finalizer for every open connection.
 */
const enter = (id: string, scope: Scope.Scope) =>
  Effect.gen(function*() {
    const hub = yield* WebSocketHub
    const lifecycle = yield* Lifecycle
    const registry = yield* Registry
    yield* Scope.extend(Effect.zipRight(lifecycle.hold, hub.count), scope)
    yield* Scope.addFinalizer(
      scope,
      Effect.suspend(() =>
        registry.removeConnection(id).pipe(Effect.catchAll((e) => Effect.logError(`ephemeral endpoints of ${id} not removed: ${e.message}`)))
      )
    )
  }).pipe(Effect.uninterruptible)

/**
 * One open connection, driven by its socket's events: no fiber waits on it between messages.
 * Each message runs on a fiber of its own through `run`; the connection's subscriptions and its
 * holds live in `scope`, which the socket's close closes. Says when the connection closed.
 */
export const startSession = (
  ws: WebSocket,
  /** The connection's socket, which `ws` writes to as well. */
  socket: Duplex,
  headerCaller: CallerInfo | undefined,
  scope: Scope.CloseableScope,
  run: <A, E>(effect: Effect.Effect<A, E, SessionServices>) => unknown
) =>
  Effect.gen(function*() {
    const hub = yield* WebSocketHub
    const tokens = yield* Tokens
    const limits = (yield* (yield* ConfigService).current).websocket
    const id = yield* hub.nextId
    yield* enter(id, scope)
    const caller = yield* Ref.make<CallerInfo | undefined>(headerCaller)
    const subscriptions = yield* Scope.extend(makeSubscriptionTable, scope)
    const subscriptionCounter = yield* Ref.make(0)
    const lastPong = yield* Ref.make(yield* Clock.currentTimeMillis)

    // A second close is a no-op for `ws`: the first reason stands.
    const close = (code: number, reason: string) => Effect.sync(() => ws.close(code, reason))
    const overflow = close(closeCodes.policy, `slow consumer: more than ${limits.outgoingQueue} messages unread`)
    /**
     * Messages go to the socket at once, in order. Each counts as outgoing until the socket has
     * written it; a reader that leaves more than `websocket.outgoingQueue` of them unread is
     * closed, and nobody else waits for it.
     */
    const outbox = { pending: 0 }
    const sent = () => outbox.pending--
    const admitted = () => {
      if (outbox.pending >= limits.outgoingQueue) return false
      outbox.pending++
      return true
    }
    const sendText = (text: string | Buffer): boolean => {
      if (ws.readyState !== ws.OPEN) return true
      if (!admitted()) return false
      ws.send(text, textFrame, sent)
      return true
    }
    // `ws` writes its own frames (pings, the close) to the same socket, in the order they are made;
    // without permessage-deflate it holds none back.
    const sendFrame = (frame: TextFrame): boolean => {
      if (ws.readyState !== ws.OPEN) return true
      if (!admitted()) return false
      socket.write(frame, sent)
      return true
    }
    const send = (message: ServerMessage) => Effect.suspend(() => (sendText(encodeMessage(message)) ? Effect.void : overflow))
    const connection: Connection = {
      id,
      caller,
      send,
      sendText,
      sendFrame,
      overflow,
      subscriptions,
      nextSubscriptionId: Effect.map(Ref.updateAndGet(subscriptionCounter, (n) => n + 1), (n) => `sub-${n}`)
    }

    const authenticate = (token: string) =>
      Effect.gen(function*() {
        const found = yield* tokens.authenticate(token.trim())
        if (Option.isNone(found)) {
          yield* send({ type: "auth", ok: false, error: { code: "unauthorized", message: "unknown or revoked token" } })
          return yield* close(closeCodes.policy, "authentication failed")
        }
        yield* Ref.set(caller, found.value)
        yield* send({ type: "auth", ok: true, name: found.value.name ?? "", roles: [...found.value.roles] })
      })

    const onMessage = (text: string) =>
      Effect.gen(function*() {
        const parsed = parse(text, limits.maxMessageBytes)
        if (Either.isLeft(parsed)) return yield* send({ id: idOf(text), type: "result", ok: false, error: errorBody(parsed.left) })
        const message = parsed.right
        if (message.type === "auth") return yield* authenticate(message.token)
        const who = yield* Ref.get(caller)
        if (who === undefined) {
          return yield* send({
            id: message.id,
            type: "result",
            ok: false,
            error: { code: "unauthorized", message: "authenticate first: send {\"type\":\"auth\",\"token\":\"...\"}" }
          })
        }
        yield* runCommand(message, who, connection)
      }).pipe(Effect.catchAllCause((cause) => Effect.logError(`WebSocket ${id}: message not handled`, cause)))

    const keepAlive = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now - (yield* Ref.get(lastPong)) > Duration.toMillis(limits.pingInterval) + Duration.toMillis(limits.pongTimeout)) {
        yield* Effect.logInfo(`closing WebSocket ${id}: no answer to pings`)
        // A peer that no longer reads: no closing handshake to wait for.
        return yield* Effect.sync(() => ws.terminate())
      }
      if (ws.readyState === ws.OPEN) ws.ping()
    })

    /** On shutdown: stop subscriptions, let the queue drain (briefly), then close with 1001. */
    const goAway = Effect.gen(function*() {
      yield* subscriptions.endAll
      yield* Effect.repeat(Effect.sync(() => outbox.pending), { until: (pending) => pending === 0, schedule: Schedule.spaced("10 millis") }).pipe(
        Effect.timeout("2 seconds"),
        Effect.ignore
      )
      yield* close(closeCodes.goingAway, "server shutting down")
    })

    const closed = yield* Deferred.make<void>()
    ws.once("close", () => run(Effect.zipRight(Scope.close(scope, Exit.void), Deferred.succeed(closed, undefined))))
    ws.on("message", (data) => run(onMessage(textOf(data))))
    ws.on("pong", () => run(Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(lastPong, now))))
    // A protocol error (bad frame, invalid UTF-8): `ws` closes the socket, and "close" follows.
    ws.on("error", (error) => run(Effect.logInfo(`WebSocket ${id}: ${error.message}`)))
    yield* send({ type: "hello", version, authenticated: headerCaller !== undefined })
    yield* Scope.extend(hub.join(id, { keepAlive, goAway }), scope)
    if (headerCaller === undefined) {
      yield* Effect.forkIn(
        Effect.zipRight(
          Effect.sleep(limits.authTimeout),
          Effect.flatMap(Ref.get(caller), (who) => (who === undefined ? close(closeCodes.policy, "authentication timeout") : Effect.void))
        ),
        scope
      )
    }
    ws.resume()
    return Deferred.await(closed)
  })
