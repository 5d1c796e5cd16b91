// GET /v1/endpoints under load (wrk) at three directory sizes, anonymous and with an `internal`
// token, plain, gzip and br; each case side by side with a bare node:http server, in a process of its
// own, sending the very bytes and headers Miko sent for that case (the ceiling for Node here).
// The long-poll fan-out is measured by blocking.mjs, the WebSocket fan-out by websocket.mjs.
// Usage: npm run build && node scripts/bench/endpoints.mjs [seconds-per-run] [rounds] [--smoke]
import { brotliDecompressSync, gunzipSync } from "node:zlib"
import {
  checkFigures, fillDirectory, getRaw, machine, machineNote, positionalArgs, replayHeaders, rssMiB, smoke, startBare, startMiko, writeSection
} from "./lib.mjs"
import { runWrk } from "./wrk.mjs"

// One directory grows through the sizes: each stage adds endpoints to the one before.
// Smoke mode keeps every stage, but small, and measures the later ones in one case only (wrk runs a second at least).
const stages = smoke
  ? [{ services: 4, perService: 1 }, { services: 6, perService: 1 }, { services: 6, perService: 2 }]
  : [{ services: 4, perService: 1 }, { services: 100, perService: 1 }, { services: 100, perService: 10 }]
const seconds = smoke ? 1 : Number(positionalArgs()[0] ?? 3)
const rounds = smoke ? 1 : Number(positionalArgs()[1] ?? 2)
const warmUpSeconds = smoke ? 0 : 1
// As the requirement states the load: two wrk threads, 50 connections.
const threads = 2
const connections = smoke ? 4 : 50

const adminToken = "bench-admin-token-0123456789"
const readerToken = "bench-reader-token-0123456789"
const cases = [
  { caller: "anonymous", encoding: "plain", headers: {} },
  { caller: "anonymous", encoding: "gzip", headers: { "accept-encoding": "gzip" } },
  { caller: "`internal` token", encoding: "plain", headers: { authorization: `Bearer ${readerToken}` } },
  { caller: "`internal` token", encoding: "gzip", headers: { authorization: `Bearer ${readerToken}`, "accept-encoding": "gzip" } },
  { caller: "anonymous", encoding: "br", headers: { "accept-encoding": "gzip, deflate, br" } },
  { caller: "`internal` token", encoding: "br", headers: { authorization: `Bearer ${readerToken}`, "accept-encoding": "gzip, deflate, br" } }
]
const casesFor = (stage) => (smoke && stage > 0 ? cases.slice(0, 1) : cases)

const startedOn = machine()
// The reader token has only the `internal` role: what a service's client holds, and it gets the internal view.
const miko = await startMiko(`http: { port: 0 }
auth: { tokens: [ { name: bench, secret: "${adminToken}", roles: [admin] }, { name: reader, secret: "${readerToken}", roles: [internal] } ] }
`)
const bare = await startBare()
/** What looked wrong in Miko's answers (a missing compression, the wrong view, errors under load): reported, and the run fails. */
const anomalies = []

/**
 * Miko's answer to one case, checked against what the case asks for; the baseline sends it as is.
 * `plain` is the same caller's uncompressed answer, which a compressed answer must decompress to.
 */
const capture = async (testCase, plain) => {
  const answer = await getRaw(`${miko.url}/v1/endpoints`, testCase.headers)
  const where = `${testCase.caller}, ${testCase.encoding}`
  if (answer.status !== 200) anomalies.push(`${where}: status ${answer.status}`)
  const coding = answer.headers["content-encoding"] ?? "plain"
  if (coding !== testCase.encoding) anomalies.push(`${where}: answered with content-encoding ${coding}`)
  const text = (coding === "gzip" ? gunzipSync(answer.body) : coding === "br" ? brotliDecompressSync(answer.body) : answer.body).toString()
  if (plain !== undefined && text !== plain.body.toString()) anomalies.push(`${where}: the decompressed body differs from the plain one`)
  const internal = text.includes('"internalAddress"')
  if (internal !== testCase.caller.includes("internal")) anomalies.push(`${where}: ${internal ? "internal addresses shown" : "internal addresses missing"}`)
  return { ...answer, coding, plainBytes: Buffer.byteLength(text) }
}

const load = (url, headers, duration = seconds) => runWrk({ url: `${url}/v1/endpoints`, threads, connections, duration, headers })

/** Both servers under the same load, `rounds` times, alternating which goes first so that drift in the machine's load hits both. */
const measureCase = async (testCase, row) => {
  const runs = { bare: [], miko: [] }
  for (let round = 0; round < rounds; round++) {
    const order = (row + round) % 2 === 0 ? ["bare", "miko"] : ["miko", "bare"]
    for (const side of order) runs[side].push(await load(side === "bare" ? bare.url : miko.url, testCase.headers))
  }
  return { bare: summary(runs.bare), miko: summary(runs.miko) }
}

const average = (results, figure) => results.reduce((sum, r) => sum + figure(r), 0) / results.length
const summary = (results) => ({
  rps: average(results, (r) => r.rps),
  p50: average(results, (r) => r.latency[50]),
  p99: average(results, (r) => r.latency[99]),
  errors: results.reduce((sum, r) => sum + r.errors, 0)
})

const rows = []
const memory = []
let registered = { services: 0, perService: 0 }
for (const [stageIndex, stage] of stages.entries()) {
  // Grows the directory: new services get every endpoint, the existing ones the endpoints they lack.
  await fillDirectory(miko.url, adminToken, { services: registered.services, perService: stage.perService, firstEndpoint: registered.perService })
  await fillDirectory(miko.url, adminToken, { services: stage.services, perService: stage.perService, firstService: registered.services })
  registered = stage
  const plainOf = {}
  const stageCases = casesFor(stageIndex)
  for (const [i, testCase] of stageCases.entries()) {
    const answer = await capture(testCase, testCase.encoding === "plain" ? undefined : plainOf[testCase.caller])
    if (testCase.encoding === "plain") plainOf[testCase.caller] = answer
    await bare.answer({ status: answer.status, headers: replayHeaders(answer.headers), body: answer.body })
    // Once per stage: the first seconds after a change in size are the JIT's, not the steady state's.
    if (i === 0 && warmUpSeconds > 0) {
      await load(bare.url, testCase.headers, warmUpSeconds)
      await load(miko.url, testCase.headers, warmUpSeconds)
    }
    const result = await measureCase(testCase, rows.length)
    if (result.miko.errors > 0) anomalies.push(`${stage.services * stage.perService} endpoints, ${testCase.caller}, ${testCase.encoding}: ${result.miko.errors} errors under load`)
    rows.push({ stage, testCase, bytes: answer.body.length, plainBytes: answer.plainBytes, coding: answer.coding, ...result })
  }
  memory.push({ stage, miko: rssMiB(miko.child.pid), bare: rssMiB(bare.pid) })
}
await bare.stop()
await miko.stop()
const endedOn = machine()

const fmt = (n) => n.toFixed(1)
const count = (n) => n.toLocaleString("en")
const kb = (bytes) => (bytes < 10_000 ? `${(bytes / 1000).toFixed(1)} KB` : `${count(Math.round(bytes / 1000))} KB`)
const directory = (stage) => `${count(stage.services * stage.perService)} endpoints / ${count(stage.services)} services`
const ratio = (row) => row.miko.rps / row.bare.rps
const ratios = rows.map(ratio)
const tableRow = (row) =>
  `| ${directory(row.stage)} | ${row.testCase.caller} | ${row.coding === "plain" ? "plain" : `${row.coding} (${kb(row.plainBytes)} unpacked)`} | ${kb(row.bytes)} | ` +
  `${fmt(row.bare.rps)} | ${fmt(row.miko.rps)} | **${ratio(row).toFixed(2)}** | ${fmt(row.bare.p99)} | ${fmt(row.miko.p99)} | ${row.bare.errors} / ${row.miko.errors} |`
const memoryRow = (entry) => `| ${directory(entry.stage)} | ${fmt(entry.miko)} | ${fmt(entry.bare)} |`
const goalMet = ratios.every((r) => r >= 0.8)
const section = `## Endpoint list (\`scripts/bench/endpoints.mjs\`)

\`node scripts/bench/endpoints.mjs\` after \`npm run build\`. ${machineNote(startedOn, endedOn)}

\`GET /v1/endpoints\` (no filter) at three sizes of one directory grown in place, anonymous (public view) and with a
token holding only the \`internal\` role (internal view), plain, with \`Accept-Encoding: gzip\` and with \`gzip, deflate, br\` (as browsers send it; Miko answers br). Load: wrk, ${threads} threads,
${connections} connections, \`--latency\`, ${seconds} s per run, ${rounds === 1 ? "one run" : `${rounds} runs`} per server and case, alternating which
server goes first, averaged${warmUpSeconds > 0 ? `; ${warmUpSeconds} s of warm-up on each server when the directory has grown` : ""}.
Baseline in the same run: a bare \`node:http\` server in a process of its own (as Miko is) that answers every request
with the bytes and headers Miko sent for the same case (for gzip and br, Miko's compressed bytes and \`Content-Encoding\`).

| directory | caller | encoding | body | bare req/s | Miko req/s | ratio Miko / bare | bare p99 ms | Miko p99 ms | errors bare / Miko |
| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.map(tableRow).join("\n")}

Goal: at least 0.8 of the bare server in every case (${goalMet ? "met" : "not met"}: lowest ratio ${Math.min(...ratios).toFixed(2)}, highest ${Math.max(...ratios).toFixed(2)}).

Resident memory (VmRSS) after each size's runs:

| directory | Miko MiB | bare node:http MiB |
| --- | ---: | ---: |
${memory.map(memoryRow).join("\n")}
${anomalies.length === 0 ? "" : `\nWrong in Miko's answers during this run:\n\n${anomalies.map((a) => `- ${a}`).join("\n")}\n`}`
console.log(section)
checkFigures("endpoints", Object.fromEntries(rows.flatMap((row, i) => [
  [`row ${i + 1} bare req/s`, row.bare.rps], [`row ${i + 1} Miko req/s`, row.miko.rps], [`row ${i + 1} Miko p99`, row.miko.p99]
]).concat(memory.map((entry, i) => [`Miko RSS ${i + 1}`, entry.miko]))))
if (!smoke) writeSection("endpoints", section)
if (anomalies.length > 0) {
  console.error(`endpoints: wrong in Miko's answers:\n${anomalies.join("\n")}`)
  process.exit(1)
}
