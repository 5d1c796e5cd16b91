// A minimal keep-alive HTTP backend for the SDK benchmark: prints "PORT <n>" once listening.
import { createServer } from "node:http"

const name = process.argv[2] ?? "backend"
const body = JSON.stringify({ name })
const server = createServer((request, response) => {
  request.resume()
  request.on("end", () => {
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
    response.end(body)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => console.log(`PORT ${server.address().port}`))
