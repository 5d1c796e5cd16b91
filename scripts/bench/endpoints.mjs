// GET /v1/endpoints under load (wrk) versus a bare node:http server answering the same bytes, and
// long-poll fan-out: how long 1,000 blocked requests take to answer after one registration.
// Usage: npm run build && node scripts/bench/endpoints.mjs [seconds-per-run] [--smoke]
import { createServer, request, Agent } from "node:http"
import { checkFigures, fillDirectory, percentile, positionalArgs, smoke, startMiko, writeSection } from "./lib.mjs"
import { runWrk } from "./wrk.mjs"

// Smoke mode keeps every step but shrinks it: a small directory, few connections and waiters.
const sizes = smoke
  ? { seconds: 1, rounds: 1, connections: 4, services: 5, perService: 4, waiters: 20, fanoutRounds: 1, parkMs: 500 }
  : { seconds: Number(positionalArgs()[0] ?? 10), rounds: 2, connections: 50, services: 50, perService: 20, waiters: 1000, fanoutRounds: 3, parkMs: 5000 }
const { seconds, connections, waiters } = sizes
const token = "bench-admin-token-0123456789"
const miko = await startMiko(`http: { port: 0 }
auth: { tokens: [ { name: bench, secret: "${token}", roles: [admin] } ] }
`)

const post = (path, body) =>
  fetch(`${miko.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) })

await fillDirectory(miko.url, token, sizes)
const endpointCount = sizes.services * sizes.perService
const response = await fetch(`${miko.url}/v1/endpoints`)
const body = await response.text()
const headers = { "content-type": "application/json", "x-miko-index": response.headers.get("x-miko-index"), etag: response.headers.get("etag"), "cache-control": "no-cache" }

const bare = createServer((_, res) => res.writeHead(200, headers).end(body))
await new Promise((r) => bare.listen(0, "127.0.0.1", r))
const bareUrl = `http://127.0.0.1:${bare.address().port}`

// One wrk thread: the servers measured run on one core, the load generator gets the other.
const load = (url) => runWrk({ url: `${url}/v1/endpoints`, threads: 1, connections, duration: seconds })
const runs = { bare: [], miko: [] }
for (let round = 0; round < sizes.rounds; round++) {
  runs.bare.push(await load(bareUrl))
  runs.miko.push(await load(miko.url))
}
const average = (results, figure) => results.reduce((sum, r) => sum + figure(r), 0) / results.length
const summary = (results) => ({
  rps: average(results, (r) => r.rps),
  p50: average(results, (r) => r.latency[50]),
  p99: average(results, (r) => r.latency[99]),
  errors: results.reduce((sum, r) => sum + r.errors, 0)
})
const b = summary(runs.bare)
const m = summary(runs.miko)
bare.close()

// Long-poll fan-out: 1,000 requests wait on the current index; one registration wakes them all.
// Node clients here: wrk measures throughput, not the time until each blocked request is answered.
const agent = new Agent({ keepAlive: true, maxSockets: waiters + 100 })
/** One round per filter: `?service=fanout` answers a small body; no filter answers the whole directory. */
const fanoutRound = async (round, query) => {
  const index = Number((await fetch(`${miko.url}/v1/endpoints`)).headers.get("x-miko-index"))
  const done = Array.from({ length: waiters }, () =>
    new Promise((resolve, reject) => {
      const req = request(`${miko.url}/v1/endpoints?index=${index}&wait=60s${query}`, { agent }, (res) => {
        res.resume()
        res.on("end", () => resolve(performance.now()))
      })
      req.on("error", reject)
      req.end()
    }))
  // Time for every request to reach Miko and block before the registration is sent.
  await new Promise((r) => setTimeout(r, sizes.parkMs))
  const registered = performance.now()
  await post(`/v1/services/fanout/endpoints`, { id: `fanout-${round}`, publicAddress: "https://fanout.example.com" })
  const answered = await Promise.all(done)
  return answered.map((t) => t - registered)
}
/** The ceiling: a bare node:http server that holds 1,000 requests and answers them all on one event. */
const bareFanout = async () => {
  const held = []
  const small = JSON.stringify({ index: 1, services: { fanout: [] } })
  const server = createServer((_, res) => held.push(res))
  await new Promise((r) => server.listen(0, "127.0.0.1", r))
  const bareAgent = new Agent({ keepAlive: true, maxSockets: waiters + 100 })
  const done = Array.from({ length: waiters }, () =>
    new Promise((resolve, reject) => {
      const req = request(`http://127.0.0.1:${server.address().port}/`, { agent: bareAgent }, (res) => {
        res.resume()
        res.on("end", () => resolve(performance.now()))
      })
      req.on("error", reject)
      req.end()
    }))
  while (held.length < waiters) await new Promise((r) => setTimeout(r, 50))
  const released = performance.now()
  for (const res of held) res.writeHead(200, { "content-type": "application/json" }).end(small)
  const answered = await Promise.all(done)
  bareAgent.destroy()
  server.close()
  return answered.map((t) => t - released)
}
const bareFan = []
for (let round = 0; round < sizes.fanoutRounds; round++) bareFan.push(...(await bareFanout()))
const fanout = []
const fanoutFull = []
for (let round = 0; round < sizes.fanoutRounds; round++) fanout.push(...(await fanoutRound(round, "&service=fanout")))
fanoutFull.push(...(await fanoutRound(sizes.fanoutRounds, "")))
agent.destroy()
await miko.stop()

const fmt = (n) => n.toFixed(1)
const count = (n) => n.toLocaleString("en")
const kib = (body.length / 1024).toFixed(0)
const table = `## Endpoint list (\`scripts/bench/endpoints.mjs\`)

\`GET /v1/endpoints\` for ${count(endpointCount)} endpoints over ${sizes.services} services (${kib} KiB body, public view, no token),
wrk (1 thread, ${connections} connections, \`--latency\`), ${seconds} s per run, runs alternated bare/Miko, ${sizes.rounds} of each, averaged. The baseline is a
bare \`node:http\` server answering the same pre-serialised body with the same headers: the ceiling for Node on this machine.

| server | req/s | p50 ms | p99 ms | errors |
| --- | ---: | ---: | ---: | ---: |
| bare node:http | ${fmt(b.rps)} | ${fmt(b.p50)} | ${fmt(b.p99)} | ${b.errors} |
| Miko | ${fmt(m.rps)} | ${fmt(m.p50)} | ${fmt(m.p99)} | ${m.errors} |
| ratio Miko / bare | **${(m.rps / b.rps).toFixed(2)}** | | | |

Goal: at least 0.8 of the bare server.

Long-poll fan-out: ${count(waiters)} requests blocked on \`?index=N&wait=60s&service=fanout\` (a watch of one service, as a
client of that service holds it), then one registration over HTTP; time from sending the registration until each
blocked request has its answer (${sizes.fanoutRounds === 1 ? "one round" : `${sizes.fanoutRounds} rounds`}, ${count(fanout.length)} samples):
p50 **${fmt(percentile(fanout, 50))} ms**, p99 **${fmt(percentile(fanout, 99))} ms**, max ${fmt(Math.max(...fanout))} ms. Goal: p99 under 50 ms.
Baseline in the same run: a bare \`node:http\` server holding ${count(waiters)} requests and answering all of them on one event:
p50 ${fmt(percentile(bareFan, 50))} ms, p99 ${fmt(percentile(bareFan, 99))} ms (ratio of p99s Miko / bare: ${(percentile(fanout, 99) / percentile(bareFan, 99)).toFixed(1)}).

The same without a filter, so that each of the ${count(waiters)} answers carries the whole ${kib} KiB directory
(${((body.length * waiters) / 1024 / 1024).toFixed(0)} MiB in all over loopback): p50 ${fmt(percentile(fanoutFull, 50))} ms, p99 ${fmt(percentile(fanoutFull, 99))} ms.
That case is bound by bytes written, not by waking the waiters.
`
console.log(table)
checkFigures("endpoints", {
  "bare req/s": b.rps, "Miko req/s": m.rps, "ratio Miko / bare": m.rps / b.rps, "Miko p99": m.p99,
  "fan-out p99": percentile(fanout, 99), "bare fan-out p99": percentile(bareFan, 99), "unfiltered fan-out p99": percentile(fanoutFull, 99)
})
if (!smoke) writeSection("endpoints", table)
