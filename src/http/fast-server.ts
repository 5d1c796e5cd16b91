import { type IncomingMessage, Server, type ServerOptions, type ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import type { FastPath } from "./fast-path.js"

/** Takes an upgrade request from Node's "upgrade" event, or says false and leaves it to the HTTP API. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean

/**
 * A Node HTTP server that offers each request to the read fast path, and each upgrade to the
 * WebSocket handler, before the HTTP API sees it. The API listens for "request" and "upgrade"
 * events; one taken here is never emitted to it, so no fiber is started for it.
 */
export class FastPathServer extends Server {
  constructor(options: ServerOptions, private readonly fastPath: FastPath, private readonly upgrade: UpgradeHandler) {
    super(options)
  }

  override emit(event: string, ...args: Array<unknown>): boolean {
    if (event === "request" && this.fastPath(args[0] as IncomingMessage, args[1] as ServerResponse)) return true
    if (event === "upgrade" && this.upgrade(args[0] as IncomingMessage, args[1] as Duplex, args[2] as Buffer)) return true
    return super.emit(event, ...args)
  }
}
