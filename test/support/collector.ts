import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/** A minimal OTLP/HTTP receiver on loopback that keeps every body it is sent, by path. */
export const startCollector = async () => {
  const received = new Map<string, Array<string>>()
  const server = createServer((req, res) => {
    let body = ""
    req.on("data", (chunk: Buffer) => (body += chunk.toString()))
    req.on("end", () => {
      received.set(req.url ?? "", [...(received.get(req.url ?? "") ?? []), body])
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(resolve)) }
}
