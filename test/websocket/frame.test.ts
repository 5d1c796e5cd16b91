import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { describe, expect, it } from "vitest"
import { WebSocket, WebSocketServer } from "ws"
import { frameText } from "../../src/websocket/socket.js"

/** Payload sizes at each edge of the three length encodings. */
const sizes = [0, 1, 125, 126, 65535, 65536, 70000]

describe("a text frame made once for a broadcast", () => {
  it("reads back whole in a real WebSocket client at every length encoding, among frames of ws's own", async () => {
    const server = createServer()
    const wss = new WebSocketServer({ noServer: true })
    server.on("upgrade", (request, socket, head) =>
      wss.handleUpgrade(request, socket, head, (ws) => {
        for (const size of sizes) {
          socket.write(frameText(Buffer.from("x".repeat(size))))
          ws.send(`after ${size}`)
        }
      }))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
    const received: Array<string> = []
    await new Promise<void>((resolve, reject) => {
      client.on("message", (data, binary) => {
        expect(binary).toBe(false)
        received.push(data.toString())
        if (received.length === sizes.length * 2) resolve()
      })
      client.on("error", reject)
    })
    expect(received).toEqual(sizes.flatMap((size) => ["x".repeat(size), `after ${size}`]))
    client.close()
    wss.close()
    server.close()
  })
})
