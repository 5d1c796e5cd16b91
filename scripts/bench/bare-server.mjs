// The benchmarks' baseline: a bare `node:http` server (and, on demand, a bare `ws` server on the
// same port) in a process of its own, as Miko runs in one, so that neither shares an event loop
// with the clients that measure them. It sends exactly the bytes it is given, with no logic:
// the ceiling for Node on this machine. Started and configured over IPC by `startBare()` in lib.mjs.
//
//   any path       the canned answer (status, headers, body), for throughput runs
//   GET  /hold?group=G     held, unanswered, until a release of its group (a blocking query)
//   GET  /held             {"G": count, ...}: how many requests each group holds
//   POST /release?group=G  answers every held request of G with the canned answer
//   POST /broadcast        sends the canned WebSocket message to every WebSocket client
//
// IPC from the parent: {id, type: "answer", status, headers, body (base64)} or
// {id, type: "message", text}; each is acknowledged with {id}. The first message sent is {port}.
import { createServer } from "node:http"

let canned = { status: 200, headers: { "content-length": 0 }, body: Buffer.alloc(0) }
let wsMessage = ""
let wss = undefined
const held = new Map()

const answer = (res) => res.writeHead(canned.status, canned.headers).end(canned.body)

const hold = (group, res) => {
  if (!held.has(group)) held.set(group, new Set())
  held.get(group).add(res)
  // A client that goes away must not be answered later nor counted as held.
  res.once("close", () => held.get(group)?.delete(res))
}

const release = (group) => {
  const waiting = held.get(group) ?? new Set()
  held.delete(group)
  for (const res of waiting) answer(res)
  return waiting.size
}

const broadcast = () => {
  let sent = 0
  for (const client of wss?.clients ?? []) {
    client.send(wsMessage)
    sent++
  }
  return sent
}

const control = (res, value) => {
  const body = JSON.stringify(value)
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body)
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://bare")
  if (url.pathname === "/hold") return hold(url.searchParams.get("group") ?? "", res)
  if (url.pathname === "/held") return control(res, Object.fromEntries([...held].map(([group, set]) => [group, set.size])))
  if (url.pathname === "/release" && req.method === "POST") return control(res, { released: release(url.searchParams.get("group") ?? "") })
  if (url.pathname === "/broadcast" && req.method === "POST") return control(res, { sent: broadcast() })
  answer(res)
})

/** The `ws` server is loaded only when a WebSocket message is configured, so the HTTP baseline's memory stays bare. */
const enableWebSocket = async () => {
  if (wss !== undefined) return
  const { WebSocketServer } = await import("ws")
  wss = new WebSocketServer({ server })
}

process.on("message", async (message) => {
  if (message.type === "answer") {
    canned = { status: message.status, headers: message.headers, body: Buffer.from(message.body, "base64") }
  } else if (message.type === "message") {
    await enableWebSocket()
    wsMessage = message.text
  }
  process.send({ id: message.id })
})
// The parent's end is the end of this process: a failed run must not leave it behind.
process.on("disconnect", () => process.exit(0))

server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }))
