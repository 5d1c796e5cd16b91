import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"

/** The parts of a Node `ws` WebSocket the channel needs beyond sending text: flow control and pings. */
export interface RawWebSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send(data: string, callback: (error?: Error) => void): void
  ping(): void
  close(code: number, reason: string): void
  terminate(): void
  on(event: "pong", listener: () => void): void
}

const isRawWebSocket = (value: unknown): value is RawWebSocket =>
  typeof value === "object" && value !== null && "ping" in value && "terminate" in value && "send" in value

/**
 * The `ws` WebSocket behind an upgraded request. @effect/platform's Socket hides it, but send
 * callbacks (to notice a slow reader) and protocol-level pings need it; `ws` keeps it on the
 * TCP socket under a symbol named "websocket".
 */
export const rawWebSocketOf = (request: HttpServerRequest.HttpServerRequest): RawWebSocket | undefined => {
  const socket: object = NodeHttpServerRequest.toIncomingMessage(request).socket
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    if (symbol.description !== "websocket") continue
    const candidate: unknown = (socket as Record<symbol, unknown>)[symbol]
    if (isRawWebSocket(candidate)) return candidate
  }
  return undefined
}
