import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createHttpsServer } from "node:https"
import { createServer as createNetServer } from "node:net"
import { api, type Miko, startMiko, tempDir } from "../support/miko.js"

export const admin = "admin-token-0123456789"
export const internalReader = "internal-token-0123456789"
export const registrar = "register-token-0123456789"
/** A token that may read and write the keys under `billing/` only. */
export const billingWriter = "billing-token-0123456789"
/** A token that may only read the keys under `billing/`: secret values are hidden from it. */
export const billingReader = "billing-reader-0123456789"

/** The configuration every SDK suite runs Miko with. */
export const mikoConfig = (extra: Record<string, unknown> = {}) => ({
  general: { dataDir: "./data", shutdownTimeout: "2s" },
  registry: { deregisterCriticalAfter: "1m" },
  auth: {
    tokens: [
      { name: "admin", secret: admin, roles: ["admin"] },
      { name: "mesh", secret: internalReader, roles: ["internal"] },
      { name: "reg", secret: registrar, roles: ["register"] },
      { name: "billing", secret: billingWriter, roles: ["internal"], kv: [{ prefix: "billing/", access: "write" }] },
      { name: "billing-reader", secret: billingReader, roles: ["internal"], kv: [{ prefix: "billing/", access: "read" }] }
    ]
  },
  ...extra
})

export const startSdkMiko = (options: { readonly port?: number; readonly dir?: string } = {}) =>
  startMiko({
    config: { ...mikoConfig(), http: { port: options.port ?? 0, host: "127.0.0.1" } },
    dir: options.dir ?? tempDir("miko-sdk-")
  })

/** Registers an endpoint the way a deployer would, with the admin token. */
export const registerVia = async (miko: Miko, service: string, body: Record<string, unknown>) => {
  const answer = await api(`${miko.url}/v1/services/${service}/endpoints`, { method: "POST", token: admin, body })
  if (answer.status !== 201 && answer.status !== 200) throw new Error(`registration failed: ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer
}

export const deregisterVia = (miko: Miko, service: string, id: string) =>
  api(`${miko.url}/v1/services/${service}/endpoints/${id}`, { method: "DELETE", token: admin })

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `check` holds (background work driven by real timers and sockets). */
export const eventually = async (check: () => Promise<boolean> | boolean, timeoutMs = 10_000, what = "condition") => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs}ms`)
    await sleep(20)
  }
}

/** A free loopback port (for a Miko that must come back on the same one). */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createNetServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/** A real HTTP backend that answers with its name and counts what it served. */
export interface Backend {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly hits: () => number
  /** Requests whose connection closed before they were answered (cancelled by the caller). */
  readonly aborted: () => number
  /** Stops it abruptly: the listener and every open connection. */
  readonly stop: () => Promise<void>
}

export type Handler = (request: IncomingMessage, response: ServerResponse, name: string) => void

const defaultHandler: Handler = (request, response, name) => {
  response.setHeader("content-type", "application/json")
  response.end(JSON.stringify({ name, method: request.method, url: request.url }))
}

export const startBackend = async (
  name: string,
  handler: Handler = defaultHandler,
  tls?: { readonly key: string; readonly cert: string }
): Promise<Backend> => {
  let hits = 0
  let aborted = 0
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    hits++
    response.once("close", () => {
      if (!response.writableFinished) aborted++
    })
    // Bodies are drained so keep-alive connections stay usable.
    request.resume()
    handler(request, response, name)
  }
  const server: Server = tls === undefined ? createServer(handle) : createHttpsServer(tls, handle)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  const scheme = tls === undefined ? "http" : "https"
  return {
    name,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    hits: () => hits,
    aborted: () => aborted,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

export type { Miko }
