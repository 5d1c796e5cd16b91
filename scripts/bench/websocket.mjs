// 1,000 WebSocket subscribers of `endpoints`: time from one registration over HTTP until the event has
// reached all of them, and sustained events per second; side by side with a bare `ws` server that
// broadcasts the same message to 1,000 clients (the ceiling for Node on this machine).
// Node clients throughout: what is measured is the time until a pushed event reaches every
// subscriber, which a load generator such as wrk cannot see.
// Usage: npm run build && node scripts/bench/websocket.mjs [--smoke]
import WebSocket, { WebSocketServer } from "ws"
import { checkFigures, percentile, smoke, startMiko, writeSection } from "./lib.mjs"

// Smoke mode: 20 subscribers, 3 timed rounds, 10 registrations back to back.
const CLIENTS = smoke ? 20 : 1000
const ROUNDS = smoke ? 3 : 20
const BURST = smoke ? 10 : 200
const token = "bench-admin-token-0123456789"
const miko = await startMiko(`http: { port: 0 }
websocket: { maxConnections: 2000 }
auth: { tokens: [ { name: bench, secret: "${token}", roles: [admin] } ] }
`)
const wsUrl = miko.url.replace(/^http/, "ws") + "/v1/ws"
const register = (id) =>
  fetch(`${miko.url}/v1/services/bench/endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ id, publicAddress: `https://${id}.example.com` })
  })

/** Opens `count` clients; `onEvent(clientIndex, data)` sees every event. */
const openClients = async (url, count, onMessage, headers = {}) => {
  const clients = []
  for (let batch = 0; batch < count; batch += 100) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, count - batch) }, (_, i) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers })
        ws.on("message", (raw) => onMessage(batch + i, raw))
        ws.once("open", () => resolve(ws))
        ws.once("error", reject)
      })))))
  }
  return clients
}

// Miko: every client subscribes to endpoints.
const seen = new Map()
let expectId = undefined
let onAll = undefined
const clients = await openClients(wsUrl, CLIENTS, (i, raw) => {
  const message = JSON.parse(raw)
  if (message.type !== "event" || message.data.type !== "registered" || message.data.endpointId !== expectId) return
  const count = (seen.get(expectId) ?? 0) + 1
  seen.set(expectId, count)
  if (count === CLIENTS) onAll?.(performance.now())
}, { authorization: `Bearer ${token}` })
await Promise.all(clients.map((ws, i) =>
  new Promise((resolve) => {
    const onMessage = (raw) => {
      const message = JSON.parse(raw)
      if (message.type === "event" && message.data.type === "snapshot") {
        ws.off("message", onMessage)
        resolve()
      }
    }
    ws.on("message", onMessage)
    ws.send(JSON.stringify({ type: "command", id: i, command: "subscribe", args: { topic: "endpoints" } }))
  })))

const mikoLatency = []
for (let round = 0; round < ROUNDS; round++) {
  expectId = `bench-${round}`
  const done = new Promise((resolve) => (onAll = resolve))
  const start = performance.now()
  await register(expectId)
  mikoLatency.push((await done) - start)
}

// Sustained: 200 registrations back to back, counting deliveries to all 1,000 subscribers.
let delivered = 0
for (const ws of clients) ws.on("message", () => delivered++)
const sustainedStart = performance.now()
const target = BURST * CLIENTS
for (let i = 0; i < BURST; i++) await register(`burst-${i}`)
while (delivered < target) await new Promise((r) => setTimeout(r, 5))
const mikoRate = delivered / ((performance.now() - sustainedStart) / 1000)
for (const ws of clients) ws.terminate()
await miko.stop()

// Baseline: a bare ws server broadcasting one pre-serialised event per trigger.
const server = new WebSocketServer({ port: 0, host: "127.0.0.1" })
await new Promise((r) => server.once("listening", r))
const baseUrl = `ws://127.0.0.1:${server.address().port}`
let baseCount = 0
let baseAll = undefined
const baseClients = await openClients(baseUrl, CLIENTS, () => {
  baseCount++
  if (baseCount % CLIENTS === 0) baseAll?.(performance.now())
})
const event = JSON.stringify({ type: "event", topic: "endpoints", subscription: "sub-1", data: { type: "registered", index: 1, service: "bench", endpointId: "bench-0", endpoint: { id: "bench-0", publicAddress: "https://bench-0.example.com" } } })
const baseLatency = []
for (let round = 0; round < ROUNDS; round++) {
  const done = new Promise((resolve) => (baseAll = resolve))
  const start = performance.now()
  for (const client of server.clients) client.send(event)
  baseLatency.push((await done) - start)
}
for (const ws of baseClients) ws.terminate()
server.close()

const fmt = (n) => n.toFixed(1)
const miko50 = percentile(mikoLatency, 50)
const miko99 = percentile(mikoLatency, 99)
const base50 = percentile(baseLatency, 50)
const base99 = percentile(baseLatency, 99)
const section = `## WebSocket fan-out (\`scripts/bench/websocket.mjs\`)

${CLIENTS} WebSocket connections, each subscribed to \`endpoints\`; one registration over HTTP, timed from sending it
until its event has reached all ${CLIENTS} connections (${ROUNDS} rounds). Baseline in the same run: a bare \`ws\` server
broadcasting one pre-serialised event of the same shape to ${CLIENTS} clients.

| | p50 ms | p99 ms |
| --- | ---: | ---: |
| Miko: registration → event at all ${CLIENTS} | ${fmt(miko50)} | ${fmt(miko99)} |
| bare ws broadcast to ${CLIENTS} | ${fmt(base50)} | ${fmt(base99)} |
| ratio Miko / bare | ${fmt(miko50 / base50)} | ${fmt(miko99 / base99)} |

Goal: p99 under 50 ms. Sustained: ${BURST} registrations back to back delivered ${fmt(mikoRate)} events per second in all
(${fmt(mikoRate / CLIENTS)} registrations per second reaching every subscriber).
`
console.log(section)
checkFigures("websocket", { "Miko p99": miko99, "bare p99": base99, "ratio of p99s": miko99 / base99, "events per second": mikoRate })
if (!smoke) writeSection("websocket", section)
process.exit(0)
