import { createServer, type IncomingMessage, type Server } from "node:http"
import type { AddressInfo } from "node:net"

export interface Received {
  readonly method: string
  readonly path: string
  readonly headers: IncomingMessage["headers"]
  readonly body: string
}

/**
 * A local HTTP server for `http` tasks to call: `/ok` answers 200, `/fail` 500, `/slow?ms=N`
 * answers after N ms, `/hang` never answers. Every request is kept for assertions.
 */
export interface Target {
  readonly url: string
  readonly received: Array<Received>
  readonly close: () => Promise<void>
}

export const startTarget = async (): Promise<Target> => {
  const received: Array<Received> = []
  const server: Server = createServer((request, response) => {
    let body = ""
    request.on("data", (chunk: Buffer) => (body += chunk.toString()))
    request.on("end", () => {
      const url = new URL(request.url ?? "/", "http://target")
      received.push({ method: request.method ?? "", path: url.pathname, headers: request.headers, body })
      if (url.pathname === "/hang") return
      const status = url.pathname === "/fail" ? 500 : 200
      const delay = Number(url.searchParams.get("ms") ?? "0")
      setTimeout(() => response.writeHead(status, { "content-type": "text/plain" }).end("done"), delay)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** Polls until `check` holds (or gives up after `timeoutMs`), returning the last value seen. */
export const eventually = async <A>(read: () => Promise<A>, check: (value: A) => boolean, timeoutMs = 10_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let value = await read()
  while (!check(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    value = await read()
  }
  return value
}
