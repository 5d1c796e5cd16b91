import type * as Effect from "effect/Effect"
import type * as Ref from "effect/Ref"
import type { CallerInfo } from "../auth/caller.js"
import type { ServerMessage } from "./protocol.js"
import type { TextFrame } from "./socket.js"
import type { SubscriptionTable } from "./subscription-table.js"

/** One client connection, as commands and subscriptions see it. */
export interface Connection {
  readonly id: string
  /** Undefined until the connection has authenticated. */
  readonly caller: Ref.Ref<CallerInfo | undefined>
  /** Sends a message; a client that lets too many go unread is closed as a slow consumer. */
  readonly send: (message: ServerMessage) => Effect.Effect<void>
  /**
   * Hands an encoded message to the socket at once, as a text frame (a Buffer holds its UTF-8
   * bytes, so one encoding serves many sockets); false when the outgoing limit is exceeded.
   */
  readonly sendText: (text: string | Buffer) => boolean
  /** The same for a message framed already, written to the socket as it is. */
  readonly sendFrame: (frame: TextFrame) => boolean
  /** Closes the connection as a slow consumer. */
  readonly overflow: Effect.Effect<void>
  readonly subscriptions: SubscriptionTable
  readonly nextSubscriptionId: Effect.Effect<string>
}

export const closeCodes = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooBig: 1009,
  unexpected: 1011,
  tryAgainLater: 1013
} as const

/** Encodes a message once for the wire. */
export const encodeMessage = (message: ServerMessage): string => JSON.stringify(message)

