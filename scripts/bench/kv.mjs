// Application keys (/v1/kv) on SQLite with 10,000 keys: GET of one key and a list of one prefix
// under load (wrk), side by side with a bare node:http server in a process of its own sending the
// very bytes and headers Miko sent; 1,000 watchers of one prefix and 1,000 of another, one write
// under the first: the time until each of its watchers has its answer against the bare server
// answering as many held requests, and that no watcher of the other prefix wakes; the write
// throughput (wrk PUTs over the 10,000 keys, each a new version kept in the history).
// Usage: npm run build && node scripts/bench/kv.mjs [seconds-per-run] [rounds] [--smoke]
import { Agent } from "node:http"
import {
  checkFigures, collectAnswers, ensureOpenFiles, getRaw, machine, machineNote, percentile, positionalArgs, replayHeaders, rssMiB, smoke,
  startBare, startMiko, watchGroup, writeSection
} from "./lib.mjs"
import { runWrk } from "./wrk.mjs"

const sizes = smoke
  ? { keys: 200, prefixes: 10, waiters: 20, seconds: 1, rounds: 1, warmUp: 0, connections: 4, settleMs: 100, asleepMs: 300, deadlineMs: 5_000 }
  : {
    keys: 10_000, prefixes: 100, waiters: 1_000, seconds: Number(positionalArgs()[0] ?? 3), rounds: Number(positionalArgs()[1] ?? 2),
    warmUp: 1, connections: 50, settleMs: 500, asleepMs: 2_000, deadlineMs: 20_000
  }
const threads = 2
await ensureOpenFiles(4 * sizes.waiters + 1024)

const adminToken = "bench-admin-token-0123456789"
const auth = { authorization: `Bearer ${adminToken}` }
const startedOn = machine()
const miko = await startMiko(`http: { port: 0 }
auth: { tokens: [ { name: bench, secret: "${adminToken}", roles: [admin] } ] }
kv: { publicRead: ["app/", "watch-a/", "watch-b/"] }
`)
const bare = await startBare()
const anomalies = []
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const count = (n) => n.toLocaleString("en")
const fmt = (n) => n.toFixed(1)

const keyOf = (i) => `app/svc-${i % sizes.prefixes}/key-${i}`
const valueOf = (i) => ({ poolSize: i % 50, endpoint: `https://svc-${i % sizes.prefixes}.example.com`, flags: ["a", "b"], weight: i })

const put = (key, value) =>
  fetch(`${miko.url}/v1/kv/${key}`, { method: "PUT", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ value }) })
    .then(async (response) => {
      // A refused write would silently shrink the store every figure depends on.
      if (!response.ok) throw new Error(`writing ${key}: ${response.status} ${await response.text()}`)
      return response.json()
    })

// The 10,000 keys, 32 writes in flight.
const fillStarted = performance.now()
for (let from = 0; from < sizes.keys; from += 32) {
  await Promise.all(Array.from({ length: Math.min(32, sizes.keys - from) }, (_, k) => put(keyOf(from + k), valueOf(from + k))))
}
const fillSeconds = (performance.now() - fillStarted) / 1000

/** Both servers under the same load, alternating which goes first, averaged. */
const compare = async (path, row) => {
  const answer = await getRaw(`${miko.url}${path}`)
  if (answer.status !== 200) anomalies.push(`GET ${path}: status ${answer.status}`)
  await bare.answer({ status: answer.status, headers: replayHeaders(answer.headers), body: answer.body })
  const load = (url, duration = sizes.seconds) => runWrk({ url: `${url}${path}`, threads, connections: sizes.connections, duration })
  if (sizes.warmUp > 0) {
    await load(bare.url, sizes.warmUp)
    await load(miko.url, sizes.warmUp)
  }
  const runs = { bare: [], miko: [] }
  for (let round = 0; round < sizes.rounds; round++) {
    for (const side of (row + round) % 2 === 0 ? ["bare", "miko"] : ["miko", "bare"]) runs[side].push(await load(side === "bare" ? bare.url : miko.url))
  }
  const average = (results, figure) => results.reduce((sum, r) => sum + figure(r), 0) / results.length
  const summary = (results) => ({ rps: average(results, (r) => r.rps), p99: average(results, (r) => r.latency[99]), errors: results.reduce((s, r) => s + r.errors, 0) })
  const result = { path, bytes: answer.body.length, bare: summary(runs.bare), miko: summary(runs.miko) }
  if (result.miko.errors > 0) anomalies.push(`GET ${path}: ${result.miko.errors} errors under load`)
  return result
}

const reads = [
  await compare(`/v1/kv/${keyOf(7)}`, 0),
  await compare(`/v1/kv?prefix=app/svc-7/&values=true`, 1)
]

// Watchers (anonymous: kv.publicRead covers their prefixes): watch-a/ and watch-b/, each parked at its
// prefix's index; one write under watch-a/.
const agentFor = () => new Agent({ keepAlive: true, maxSockets: 2 * sizes.waiters + 16 })
const mikoAgent = agentFor()
const bareAgent = agentFor()
await put("watch-a/start", 0)
await put("watch-b/start", 0)
const indexOf = async (prefix) => Number((await getRaw(`${miko.url}/v1/kv?prefix=${prefix}`)).headers["x-miko-index"])
const watchMiko = async (prefix) => watchGroup(mikoAgent, `${miko.url}/v1/kv?prefix=${prefix}&values=true&index=${await indexOf(prefix)}&wait=60s`, sizes.waiters)

/** Times from `writeAt` to each answer, with what was wrong (early, failed, without `expect`, missing). */
const judge = (side, answers, writeAt, expect) => {
  const early = answers.filter((a) => a.at < writeAt).length
  const failed = answers.filter((a) => a.error !== undefined || a.status !== 200).length
  const stale = answers.filter((a) => a.error === undefined && !a.body.includes(expect)).length
  if (early > 0) anomalies.push(`${side}: ${early} answered before the write`)
  if (failed > 0) anomalies.push(`${side}: ${failed} failed`)
  if (stale > 0) anomalies.push(`${side}: ${stale} answered without ${expect}`)
  if (answers.length < sizes.waiters) anomalies.push(`${side}: ${sizes.waiters - answers.length} not answered in time`)
  return answers.map((a) => a.at - writeAt)
}

const bMiko = await watchMiko("watch-b/")
const aMiko = await watchMiko("watch-a/")
await Promise.all([aMiko.sent, bMiko.sent])
// Miko says nothing of how many requests it holds: a few requests after them come back through its event loop first.
for (let i = 0; i < 3; i++) await getRaw(`${miko.url}/healthz`)
await sleep(sizes.settleMs)
const writeAt = performance.now()
await put("watch-a/changed", { on: true })
const written = performance.now() - writeAt
const aAnswers = await collectAnswers(aMiko, sizes.deadlineMs)
const mikoTimes = judge("Miko a-watchers", aAnswers, writeAt, "watch-a/changed")
await sleep(sizes.asleepMs)
const bWoken = bMiko.answered()
if (bWoken > 0) anomalies.push(`Miko: ${bWoken} of ${sizes.waiters} watch-b/ watchers answered though only watch-a/ changed`)
const parkedRss = rssMiB(miko.child.pid)

// The baseline holds as many requests and answers them with Miko's bytes on one trigger.
const sample = aAnswers.find((a) => a.status === 200)
if (sample === undefined) throw new Error("Miko sent no answer to the watch-a/ watchers")
await bare.answer({ status: sample.status, headers: replayHeaders(sample.headers), body: sample.body })
const bareGroup = watchGroup(bareAgent, `${bare.url}/hold?group=a`, sizes.waiters)
await bareGroup.sent
for (;;) {
  const held = await (await fetch(`${bare.url}/held`)).json()
  if ((held.a ?? 0) >= sizes.waiters) break
  await sleep(20)
}
await sleep(sizes.settleMs)
const bareWriteAt = performance.now()
await fetch(`${bare.url}/release?group=a`, { method: "POST" }).then((r) => r.arrayBuffer())
const bareTimes = judge("bare", await collectAnswers(bareGroup, sizes.deadlineMs), bareWriteAt, "watch-a/changed")

// The watch-b/ watchers were parked, not lost: a write under watch-b/ wakes them.
await put("watch-b/changed", 1)
const bAnswers = await collectAnswers(bMiko, sizes.deadlineMs)
if (bAnswers.length < sizes.waiters) anomalies.push(`Miko: ${sizes.waiters - bAnswers.length} watch-b/ watchers not woken by a write under watch-b/`)
mikoAgent.destroy()
bareAgent.destroy()

// Writes: wrk PUTs cycling over the 10,000 keys, each a new version (kv.retention versions kept per key).
const writeScript = `
local n = 0
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value": {"poolSize": 20, "endpoint": "https://billing.example.com", "flags": ["a", "b"]}, "comment": "bench"}'
request = function()
  n = n + 1
  local i = n % ${sizes.keys}
  return wrk.format(nil, "/v1/kv/app/svc-" .. (i % ${sizes.prefixes}) .. "/key-" .. i)
end
`
const writeRun = await runWrk({ url: miko.url, threads, connections: smoke ? 4 : 16, duration: sizes.seconds * sizes.rounds, headers: auth, script: writeScript })
if (writeRun.errors > 0) anomalies.push(`writes: ${writeRun.errors} errors under load`)
const versionsKept = (await (await fetch(`${miko.url}/v1/kv/${keyOf(1)}/history`, { headers: auth })).json()).versions.length
const finalRss = { miko: rssMiB(miko.child.pid), bare: rssMiB(bare.pid) }
await bare.stop()
await miko.stop()
const endedOn = machine()

const stats = (times) => ({ p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times) })
const a = { miko: stats(mikoTimes), bare: stats(bareTimes) }
const readRow = (r) =>
  `| \`GET ${r.path}\` | ${count(r.bytes)} B | ${fmt(r.bare.rps)} | ${fmt(r.miko.rps)} | **${(r.miko.rps / r.bare.rps).toFixed(2)}** | ${fmt(r.bare.p99)} | ${fmt(r.miko.p99)} | ${r.bare.errors} / ${r.miko.errors} |`
const watchRow = (name, s) => `| ${name} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.max)} |`
const section = `## Application keys (\`scripts/bench/kv.mjs\`)

\`node scripts/bench/kv.mjs\` after \`npm run build\`. ${machineNote(startedOn, endedOn)}

SQLite, ${count(sizes.keys)} keys of about 100 bytes of JSON under ${count(sizes.prefixes)} prefixes (\`app/svc-N/key-M\`), written over HTTP
32 at a time in ${fmt(fillSeconds)} s (${count(Math.round(sizes.keys / fillSeconds))} writes/s, each a transaction with its version and change index).

**Reads** (anonymous, the prefixes in \`kv.publicRead\`): wrk, ${threads} threads, ${sizes.connections} connections, ${sizes.seconds} s per run,
${sizes.rounds === 1 ? "one run" : `${sizes.rounds} runs`} per server, alternating which goes first, averaged${sizes.warmUp > 0 ? `, after ${sizes.warmUp} s of warm-up on each` : ""}. Baseline in the same run: a bare
\`node:http\` server in a process of its own answering every request with the bytes and headers Miko sent.

| request | body | bare req/s | Miko req/s | ratio Miko / bare | bare p99 ms | Miko p99 ms | errors bare / Miko |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${reads.map(readRow).join("\n")}

**Watches**: ${count(sizes.waiters)} requests block on \`GET /v1/kv?prefix=watch-a/&values=true&index=N&wait=60s\` and ${count(sizes.waiters)} on
\`?prefix=watch-b/\`, then one \`PUT /v1/kv/watch-a/changed\`; each watcher is timed from sending the write until its answer has arrived
(the write's own answer came after ${fmt(written)} ms). Baseline: the bare server holding as many requests and answering them with
Miko's bytes on one trigger request, timed from the trigger.

| ${count(sizes.waiters)} watch-a/ watchers | p50 ms | p99 ms | max ms |
| --- | ---: | ---: | ---: |
${watchRow("Miko: write → answer", a.miko)}
${watchRow("bare node:http: trigger → answer", a.bare)}
| ratio Miko / bare | ${(a.miko.p50 / a.bare.p50).toFixed(1)} | **${(a.miko.p99 / a.bare.p99).toFixed(1)}** | ${(a.miko.max / a.bare.max).toFixed(1)} |

The watch-b/ watchers: **${bWoken} of ${count(sizes.waiters)}** answered while only watch-a/ changed (counted ${fmt(sizes.asleepMs / 1000)} s after the write);
a write under watch-b/ then woke ${count(bAnswers.length)}, so they were still parked.

**Writes**: wrk PUTs, ${threads} threads, ${smoke ? 4 : 16} connections, ${sizes.seconds * sizes.rounds} s, cycling over the ${count(sizes.keys)} keys (each write a new
version; the store keeps at most \`kv.retention\` (10) per key, pruning the oldest in the same transaction; key 1 had ${versionsKept} at the end):
**${fmt(writeRun.rps)} writes/s**, p50 ${fmt(writeRun.latency[50])} ms, p99 ${fmt(writeRun.latency[99])} ms, ${writeRun.errors} errors.

Resident memory (VmRSS): Miko ${fmt(parkedRss)} MiB with the ${count(sizes.keys)} keys and ${count(sizes.waiters)} watchers parked, ${fmt(finalRss.miko)} MiB at the end;
the bare server ${fmt(finalRss.bare)} MiB.
${anomalies.length === 0 ? "" : `\nWrong during this run:\n\n${anomalies.map((x) => `- ${x}`).join("\n")}\n`}`
console.log(section)
checkFigures("kv", {
  "fill writes/s": sizes.keys / fillSeconds,
  ...Object.fromEntries(reads.flatMap((r, i) => [[`read ${i + 1} bare req/s`, r.bare.rps], [`read ${i + 1} Miko req/s`, r.miko.rps]])),
  "Miko watch p99": a.miko.p99, "bare watch p99": a.bare.p99, "writes/s": writeRun.rps, "Miko RSS": finalRss.miko
})
if (!smoke) writeSection("kv", section)
if (anomalies.length > 0) {
  console.error(`kv: wrong during the run:\n${anomalies.join("\n")}`)
  process.exit(1)
}
process.exit(0)
