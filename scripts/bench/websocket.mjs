// 1,000 WebSocket subscribers of `endpoints`: time from one registration over HTTP until its event
// has reached each of them, and sustained events per second. Side by side, in the same run, with a
// bare `ws` server in a process of its own that broadcasts the very message Miko sent, on one trigger
// request, to as many clients (the ceiling for Node on this machine).
// Node clients throughout: what is measured is the time until a pushed event reaches every
// subscriber, which a load generator such as wrk cannot see.
// Usage: npm run build && node scripts/bench/websocket.mjs [--smoke]
import WebSocket from "ws"
import { checkFigures, ensureOpenFiles, machine, machineNote, percentile, rssMiB, smoke, startBare, startMiko, writeSection } from "./lib.mjs"

// Smoke mode: 20 subscribers, 3 timed rounds, 10 triggers back to back.
const CLIENTS = smoke ? 20 : 1000
// The first rounds run code neither server has compiled yet: they are timed apart (cold), as warm-up.
const WARMUP = smoke ? 1 : 3
const ROUNDS = smoke ? 3 : 20
const BURST = smoke ? 10 : 200
const DEADLINE_MS = smoke ? 5_000 : 20_000
// This process holds the clients of both servers at once.
await ensureOpenFiles(2 * CLIENTS + 1024)

const token = "bench-admin-token-0123456789"
const startedOn = machine()
const miko = await startMiko(`http: { port: 0 }
websocket: { maxConnections: ${CLIENTS + 1000} }
auth: { tokens: [ { name: bench, secret: "${token}", roles: [admin] } ] }
`)
const bare = await startBare()
const anomalies = []
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const register = (id) =>
  fetch(`${miko.url}/v1/services/bench/endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ id, publicAddress: `https://${id}.example.com` })
  }).then(async (response) => {
    if (!response.ok) throw new Error(`registering ${id}: ${response.status} ${await response.text()}`)
  })
const broadcast = () => fetch(`${bare.url}/broadcast`, { method: "POST" }).then((response) => response.arrayBuffer())

/**
 * The clients of one server and what they have seen. Both sides read every message the same way
 * (parse it, look for the awaited registration), so the clients' own cost is the same in both.
 */
const makeSide = (name) => {
  const side = { name, clients: [], expectId: undefined, times: [], seen: 0, onAll: undefined, registered: 0, lastRaw: undefined }
  side.onMessage = (i, raw) => {
    const message = JSON.parse(raw)
    if (message.type !== "event" || message.data?.type !== "registered") return
    side.registered++
    if (message.data.endpointId !== side.expectId || side.times[i] !== undefined) return
    side.times[i] = performance.now()
    if (i === 0) side.lastRaw = raw.toString()
    if (++side.seen === CLIENTS) side.onAll?.()
  }
  return side
}

/** Opens `count` clients, 100 at a time (a burst of thousands of handshakes would be measured as well). */
const openClients = async (side, url, count, headers = {}) => {
  for (let batch = 0; batch < count; batch += 100) {
    side.clients.push(...(await Promise.all(Array.from({ length: Math.min(100, count - batch) }, (_, k) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers })
        ws.on("message", (raw) => side.onMessage(batch + k, raw))
        ws.once("open", () => resolve(ws))
        ws.once("error", reject)
      })))))
  }
}

/** Subscribes every Miko client to `endpoints` and waits for each one's snapshot. */
const subscribeAll = (clients) =>
  Promise.all(clients.map((ws, i) =>
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

/** One timed round: `trigger` is sent, then each client's delivery is timed from it. */
const round = async (side, id, trigger) => {
  side.expectId = id
  side.times = new Array(CLIENTS)
  side.seen = 0
  const all = new Promise((resolve) => (side.onAll = resolve))
  const start = performance.now()
  await trigger()
  // The trigger's own answer: for Miko, the registration written and acknowledged, part of every delivery's time.
  const answered = performance.now() - start
  await Promise.race([all, sleep(DEADLINE_MS)])
  const times = side.times.filter((t) => t !== undefined).map((t) => t - start)
  if (times.length < CLIENTS) anomalies.push(`${side.name}, ${id}: ${CLIENTS - times.length} of ${CLIENTS} clients got no event within ${DEADLINE_MS / 1000} s`)
  return { times, answered }
}

/** `count` triggers back to back; events per second delivered to all the clients together. */
const sustained = async (side, count, trigger) => {
  side.expectId = undefined
  side.registered = 0
  const start = performance.now()
  for (let i = 0; i < count; i++) await trigger(i)
  const deadline = performance.now() + DEADLINE_MS
  while (side.registered < count * CLIENTS && performance.now() < deadline) await sleep(5)
  if (side.registered < count * CLIENTS) anomalies.push(`${side.name}: ${count * CLIENTS - side.registered} events of the sustained run missing`)
  return side.registered / ((performance.now() - start) / 1000)
}

const mikoSide = makeSide("Miko")
const bareSide = makeSide("bare ws")
await openClients(mikoSide, miko.url.replace(/^http/, "ws") + "/v1/ws", CLIENTS, { authorization: `Bearer ${token}` })
await subscribeAll(mikoSide.clients)
// Until Miko has sent a message, the baseline broadcasts a placeholder; each round gives it Miko's message.
await bare.message("{}")
await openClients(bareSide, bare.url.replace(/^http/, "ws"), CLIENTS)
const extensions = { miko: mikoSide.clients[0].extensions, bare: bareSide.clients[0].extensions }
if (extensions.miko !== extensions.bare) anomalies.push(`WebSocket extensions differ: Miko "${extensions.miko}", bare "${extensions.bare}"`)

// Each round Miko first, then the baseline with the bytes Miko has just sent to its first client.
const mikoRuns = { all: [], last: [], answered: [] }
const bareRuns = { all: [], last: [], answered: [] }
const coldLast = { miko: [], bare: [] }
let messageBytes = 0
for (let r = -WARMUP; r < ROUNDS; r++) {
  const id = r < 0 ? `warm-${-r}` : `bench-${r}`
  const mikoRound = await round(mikoSide, id, () => register(id))
  if (mikoSide.lastRaw === undefined) throw new Error("Miko sent no event to its first client")
  messageBytes = Buffer.byteLength(mikoSide.lastRaw)
  await bare.message(mikoSide.lastRaw)
  const bareRound = await round(bareSide, id, broadcast)
  if (r < 0) {
    coldLast.miko.push(Math.max(...mikoRound.times))
    coldLast.bare.push(Math.max(...bareRound.times))
    continue
  }
  for (const [runs, result] of [[mikoRuns, mikoRound], [bareRuns, bareRound]]) {
    runs.all.push(...result.times)
    runs.last.push(Math.max(...result.times))
    runs.answered.push(result.answered)
  }
}

// Sustained: registrations (triggers) back to back, as fast as each is answered, counting deliveries to every subscriber.
const mikoRate = await sustained(mikoSide, BURST, (i) => register(`burst-${i}`))
const bareRate = await sustained(bareSide, BURST, broadcast)

const rss = { miko: rssMiB(miko.child.pid), bare: rssMiB(bare.pid) }
for (const ws of [...mikoSide.clients, ...bareSide.clients]) ws.terminate()
await bare.stop()
await miko.stop()
const endedOn = machine()

const fmt = (n) => n.toFixed(1)
const count = (n) => n.toLocaleString("en")
const stats = (runs) => ({ p50: percentile(runs.all, 50), p99: percentile(runs.all, 99), last50: percentile(runs.last, 50), lastMax: Math.max(...runs.last) })
const m = stats(mikoRuns)
const b = stats(bareRuns)
const row = (name, s) => `| ${name} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.last50)} | ${fmt(s.lastMax)} |`
const section = `## WebSocket fan-out (\`scripts/bench/websocket.mjs\`)

\`node scripts/bench/websocket.mjs\` after \`npm run build\`. ${machineNote(startedOn, endedOn)}

${count(CLIENTS)} WebSocket connections, each subscribed to \`endpoints\`; one registration over HTTP, each delivery timed from
sending it until its event has arrived (${ROUNDS} rounds, ${count(mikoRuns.all.length)} deliveries; *last* is the time until the event
had reached all ${count(CLIENTS)}), after ${WARMUP} rounds of warm-up on each side. Baseline, after Miko in each round: a bare \`ws\` server in a process of its own, with
${count(CLIENTS)} clients of its own, broadcasting the message Miko had just sent (${count(messageBytes)} bytes) on one trigger request,
timed from sending the trigger. Both sides' clients are in one Node process and read every message the same way.
The warm-up rounds, the first events either server sends, are the slowest: the event reached the last subscriber after
${coldLast.miko.map(fmt).join(", ")} ms from Miko, ${coldLast.bare.map(fmt).join(", ")} ms from the bare server.
The registration's own HTTP answer came after ${fmt(percentile(mikoRuns.answered, 50))} ms (median), the trigger's after ${fmt(percentile(bareRuns.answered, 50))} ms (the bare server answers it once it has handed the message to every client).

| | p50 ms | p99 ms | last, median of rounds, ms | last, max ms |
| --- | ---: | ---: | ---: | ---: |
${row(`Miko: registration → event, ${count(CLIENTS)} subscribers`, m)}
${row(`bare ws: trigger → broadcast, ${count(CLIENTS)} clients`, b)}
| ratio Miko / bare | ${(m.p50 / b.p50).toFixed(1)} | **${(m.p99 / b.p99).toFixed(1)}** | ${(m.last50 / b.last50).toFixed(1)} | ${(m.lastMax / b.lastMax).toFixed(1)} |

Goal: p99 at most 1.5× the bare ws broadcast's in the same run (${m.p99 <= 1.5 * b.p99 ? "met" : "not met"}: ${(m.p99 / b.p99).toFixed(2)}×, ${fmt(m.p99)} against ${fmt(b.p99)} ms).
Sustained: ${BURST} registrations back to back delivered ${count(Math.round(mikoRate))} events per second in all
(${fmt(mikoRate / CLIENTS)} registrations per second reaching every subscriber); ${BURST} triggers back to back on the bare server,
${count(Math.round(bareRate))} (ratio ${(mikoRate / bareRate).toFixed(2)}).
Resident memory (VmRSS) at the end, with the ${count(CLIENTS)} connections open: Miko ${fmt(rss.miko)} MiB, bare ws ${fmt(rss.bare)} MiB.
${anomalies.length === 0 ? "" : `\nWrong during this run:\n\n${anomalies.map((x) => `- ${x}`).join("\n")}\n`}`
console.log(section)
checkFigures("websocket", {
  "Miko p99": m.p99, "bare p99": b.p99, "ratio of p99s": m.p99 / b.p99, "events per second": mikoRate, "bare events per second": bareRate,
  "Miko RSS": rss.miko
})
if (!smoke) writeSection("websocket", section)
if (anomalies.length > 0) {
  console.error(`websocket: wrong during the run:\n${anomalies.join("\n")}`)
  process.exit(1)
}
process.exit(0)
