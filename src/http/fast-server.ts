import { type IncomingMessage, Server, type ServerOptions, type ServerResponse } from "node:http"
import type { FastPath } from "./fast-path.js"

/**
 * A Node HTTP server that offers each request to the read fast path before the HTTP API sees it.
 * The API's handler listens for "request" events; a request the fast path answers is never
 * emitted to it, so no fiber is started for it.
 */
export class FastPathServer extends Server {
  constructor(options: ServerOptions, private readonly fastPath: FastPath) {
    super(options)
  }

  override emit(event: string, ...args: Array<unknown>): boolean {
    if (event === "request" && this.fastPath(args[0] as IncomingMessage, args[1] as ServerResponse)) return true
    return super.emit(event, ...args)
  }
}
