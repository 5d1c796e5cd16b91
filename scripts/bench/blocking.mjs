// Blocking queries (long-poll fan-out): 1,000 watchers of service a and 1,000 of service b parked
// on Miko, then one registration to a. Measured: the time from that write until each a-watcher has
// its answer, and that no b-watcher wakes (each query result keeps its own index). Side by side, in
// the same run, with a bare node:http server in a process of its own that holds as many requests and
// answers them with Miko's bytes on one trigger request, timed the same way.
// Node clients (a keep-alive agent with a socket per request): wrk cannot hold requests open.
// Usage: npm run build && node scripts/bench/blocking.mjs [rounds] [--smoke]
import { Agent } from "node:http"
import {
  checkFigures, collectAnswers, ensureOpenFiles, fillDirectory, getRaw, machine, machineNote, percentile, positionalArgs, replayHeaders, rssMiB, smoke,
  startBare, startMiko, watchGroup, writeSection
} from "./lib.mjs"

// Smoke mode keeps every step but shrinks it: few watchers, one round, short waits.
const sizes = smoke
  ? { waiters: 20, rounds: 1, settleMs: 100, asleepMs: 300, services: 5, perService: 4, deadlineMs: 5_000 }
  : { waiters: 1000, rounds: Number(positionalArgs()[0] ?? 5), settleMs: 500, asleepMs: 2000, services: 50, perService: 20, deadlineMs: 20_000 }
const { waiters } = sizes
// This process holds a and b watchers on both servers at once; Miko and the baseline each hold half of that.
await ensureOpenFiles(4 * waiters + 1024)

const adminToken = "bench-admin-token-0123456789"
const startedOn = machine()
const miko = await startMiko(`http: { port: 0 }
auth: { tokens: [ { name: bench, secret: "${adminToken}", roles: [admin] } ] }
`)
const bare = await startBare()
const anomalies = []
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const register = (service, id) =>
  fetch(`${miko.url}/v1/services/${service}/endpoints`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ id, publicAddress: `https://${id}.example.com`, internalAddress: `http://10.1.0.1:8080` })
  }).then(async (response) => {
    if (!response.ok) throw new Error(`registering ${service}/${id}: ${response.status} ${await response.text()}`)
  })

/**
 * Times from `writeAt` to each answer, with what was wrong: answers that came before the write,
 * errors, statuses other than 200, answers without `expect` in the body, answers missing at the deadline.
 */
const judge = (side, answers, writeAt, expect) => {
  const problems = []
  const early = answers.filter((a) => a.at < writeAt).length
  const failed = answers.filter((a) => a.error !== undefined || a.status !== 200).length
  const stale = answers.filter((a) => a.error === undefined && !a.body.includes(expect)).length
  if (early > 0) problems.push(`${early} answered before the write`)
  if (failed > 0) problems.push(`${failed} failed (${answers.find((a) => a.error !== undefined || a.status !== 200)?.error?.message ?? "status other than 200"})`)
  if (stale > 0) problems.push(`${stale} answered without ${expect}`)
  if (answers.length < waiters) problems.push(`${waiters - answers.length} not answered within ${sizes.deadlineMs / 1000} s`)
  for (const problem of problems) anomalies.push(`${side}: ${problem}`)
  return answers.map((a) => a.at - writeAt)
}

/**
 * Lets Miko read every watcher's request before the write: Miko says nothing of how many it holds, so a few
 * requests sent after them must come back through its event loop first, and then a pause.
 */
const settleMiko = async () => {
  for (let i = 0; i < 3; i++) await getRaw(`${miko.url}/healthz`)
  await sleep(sizes.settleMs)
}

/** The baseline says how many requests it holds: wait until it holds them all. */
const settleBare = async (group, count) => {
  for (;;) {
    // fetch, like the trigger after it: the trigger then finds its connection open, as the registration to Miko does.
    const held = await (await fetch(`${bare.url}/held`)).json()
    if ((held[group] ?? 0) >= count) break
    await sleep(20)
  }
  await sleep(sizes.settleMs)
}

const indexOf = async (service) => Number((await getRaw(`${miko.url}/v1/endpoints?service=${service}`)).headers["x-miko-index"])
const agentFor = () => new Agent({ keepAlive: true, maxSockets: 2 * waiters + 16 })
const mikoAgent = agentFor()
const bareAgent = agentFor()
const watchMiko = async (service) => watchGroup(mikoAgent, `${miko.url}/v1/endpoints?service=${service}&index=${await indexOf(service)}&wait=60s`, waiters)

// A directory around a and b, so that the change to a is one among many endpoints (the usual 1,000).
await fillDirectory(miko.url, adminToken, sizes)
await register("a", "a-start")
await register("b", "b-start")

// The b-watchers park once, on Miko and on the baseline, and stay parked through every round.
const bMiko = await watchMiko("b")
const bBare = watchGroup(bareAgent, `${bare.url}/hold?group=b`, waiters)
await Promise.all([bMiko.sent, bBare.sent])

/** One round on Miko: a-watchers park, one registration to a wakes them. Resolves to the times and Miko's answer. */
const mikoRound = async (round) => {
  const group = await watchMiko("a")
  await group.sent
  await settleMiko()
  const id = `a-${round}`
  const writeAt = performance.now()
  await register("a", id)
  // The registration's own answer: the write acknowledged, part of every watcher's time.
  const registered = performance.now() - writeAt
  const answers = await collectAnswers(group, sizes.deadlineMs)
  return { times: judge(`Miko round ${round + 1}`, answers, writeAt, id), writeAt, registered, answer: answers.find((a) => a.status === 200) }
}

/** The same on the baseline: it holds the a-requests until the trigger, then sends `answer` to each. */
const bareRound = async (round, answer, expect) => {
  await bare.answer({ status: answer.status, headers: replayHeaders(answer.headers), body: answer.body })
  const group = watchGroup(bareAgent, `${bare.url}/hold?group=a`, waiters)
  await group.sent
  await settleBare("a", waiters)
  const writeAt = performance.now()
  await fetch(`${bare.url}/release?group=a`, { method: "POST" }).then((r) => r.arrayBuffer())
  return judge(`bare round ${round + 1}`, await collectAnswers(group, sizes.deadlineMs), writeAt, expect)
}

// Each round Miko first, then the baseline with the bytes Miko has just sent (so both send the same).
const mikoTimes = []
const bareTimes = []
const lastMiko = []
const lastBare = []
const registered = []
let lastWrite = 0
let answerBytes = 0
let parkedRss = { miko: 0, bare: 0 }
for (let round = 0; round < sizes.rounds; round++) {
  const result = await mikoRound(round)
  lastWrite = result.writeAt
  registered.push(result.registered)
  if (result.answer === undefined) throw new Error("Miko sent no answer to the a-watchers")
  answerBytes = result.answer.body.length
  const bareResult = await bareRound(round, result.answer, `a-${round}`)
  mikoTimes.push(...result.times)
  bareTimes.push(...bareResult)
  lastMiko.push(Math.max(...result.times))
  lastBare.push(Math.max(...bareResult))
  // The memory each process needs while it holds the b-watchers (and has just answered 1,000 more).
  if (round === sizes.rounds - 1) parkedRss = { miko: rssMiB(miko.child.pid), bare: rssMiB(bare.pid) }
}

// The b-watchers must sleep through every change to a: wait the rest of `asleepMs` after the last write, then count.
await sleep(Math.max(0, lastWrite + sizes.asleepMs - performance.now()))
const bWoken = bMiko.answered()
if (bWoken > 0) anomalies.push(`Miko: ${bWoken} of ${waiters} b-watchers answered though only a changed`)

// Then a change to b must wake them (so they were parked, not lost): timed like a, against the baseline.
const bWriteAt = performance.now()
await register("b", "b-1")
const bMikoTimes = judge("Miko b-watchers", await collectAnswers(bMiko, sizes.deadlineMs), bWriteAt, "b-1")
const bAnswer = bMiko.answers.find((a) => a?.status === 200)
if (bAnswer === undefined) throw new Error("Miko sent no answer to the b-watchers")
await bare.answer({ status: bAnswer.status, headers: replayHeaders(bAnswer.headers), body: bAnswer.body })
await settleBare("b", waiters)
const bBareWriteAt = performance.now()
await fetch(`${bare.url}/release?group=b`, { method: "POST" }).then((r) => r.arrayBuffer())
const bBareTimes = judge("bare b-watchers", await collectAnswers(bBare, sizes.deadlineMs), bBareWriteAt, "b-1")

const afterRss = { miko: rssMiB(miko.child.pid), bare: rssMiB(bare.pid) }
mikoAgent.destroy()
bareAgent.destroy()
await bare.stop()
await miko.stop()
const endedOn = machine()

const fmt = (n) => n.toFixed(1)
const count = (n) => n.toLocaleString("en")
const median = (values) => percentile(values, 50)
const stats = (times, last) => ({ p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times), last: median(last) })
const a = { miko: stats(mikoTimes, lastMiko), bare: stats(bareTimes, lastBare) }
const b = { miko: stats(bMikoTimes, [Math.max(...bMikoTimes)]), bare: stats(bBareTimes, [Math.max(...bBareTimes)]) }
const row = (name, s) => `| ${name} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.max)} | ${fmt(s.last)} |`
const ratioRow = (name, m, base) =>
  `| ${name} | ${(m.p50 / base.p50).toFixed(1)} | **${(m.p99 / base.p99).toFixed(1)}** | ${(m.max / base.max).toFixed(1)} | ${(m.last / base.last).toFixed(1)} |`
const rounds = sizes.rounds === 1 ? "One round" : `${sizes.rounds} rounds`
const writes = sizes.rounds === 1 ? "one write" : `${sizes.rounds} writes`
const section = `## Blocking queries (\`scripts/bench/blocking.mjs\`)

\`node scripts/bench/blocking.mjs\` after \`npm run build\`. ${machineNote(startedOn, endedOn)}

A directory of ${count(sizes.services * sizes.perService)} endpoints plus services \`a\` and \`b\`. ${count(waiters)} requests block on
\`GET /v1/endpoints?service=a&index=N&wait=60s\` and ${count(waiters)} more on \`?service=b\` (N: the index each was answered
last), then one registration to \`a\` over HTTP. Each request is timed from sending the registration until its answer has
arrived (the last round's body: ${count(answerBytes)} bytes; each round adds one endpoint to a). ${rounds}: new a-watchers each time,
the same b-watchers throughout.
Clients: Node \`http\` with a keep-alive agent allowing a socket per request (${count(4 * waiters)} connections open at once
across both servers). Baseline, after Miko in each round: a bare \`node:http\` server in a process of its own holding as
many requests (a and b) and answering the a-requests with Miko's bytes and headers of that round on one trigger request,
timed from sending the trigger.

| ${count(waiters)} a-watchers (${count(mikoTimes.length)} samples) | p50 ms | p99 ms | max ms | last answer, median of rounds, ms |
| --- | ---: | ---: | ---: | ---: |
${row("Miko: registration → answer", a.miko)}
${row("bare node:http: trigger → answer", a.bare)}
${ratioRow("ratio Miko / bare", a.miko, a.bare)}

Goal: p99 at most 1.5× the bare server's in the same run (${a.miko.p99 <= 1.5 * a.bare.p99 ? "met" : "not met"}: ${(a.miko.p99 / a.bare.p99).toFixed(2)}×, ${fmt(a.miko.p99)} against ${fmt(a.bare.p99)} ms). The registration's own HTTP answer came after
${fmt(median(registered))} ms (median of rounds).

The b-watchers: **${bWoken} of ${count(waiters)}** answered while only \`a\` changed (${writes} to \`a\`; counted
${fmt(sizes.asleepMs / 1000)} s after the last one). A registration to \`b\` afterwards woke them, which shows they were still parked:

| ${count(waiters)} b-watchers, after ${writes} to a | p50 ms | p99 ms | max ms | last answer ms |
| --- | ---: | ---: | ---: | ---: |
${row("Miko: registration → answer", b.miko)}
${row("bare node:http: trigger → answer", b.bare)}
${ratioRow("ratio Miko / bare", b.miko, b.bare)}

Resident memory (VmRSS): Miko ${fmt(parkedRss.miko)} MiB holding the ${count(waiters)} b-watchers right after answering the last
a-round, ${fmt(afterRss.miko)} MiB at the end; bare node:http ${fmt(parkedRss.bare)} and ${fmt(afterRss.bare)} MiB.
${anomalies.length === 0 ? "" : `\nWrong during this run:\n\n${anomalies.map((x) => `- ${x}`).join("\n")}\n`}`
console.log(section)
checkFigures("blocking", {
  "Miko p50": a.miko.p50, "Miko p99": a.miko.p99, "bare p99": a.bare.p99, "Miko b p99": b.miko.p99, "bare b p99": b.bare.p99,
  "Miko RSS": afterRss.miko, "bare RSS": afterRss.bare
})
if (!smoke) writeSection("blocking", section)
if (anomalies.length > 0) {
  console.error(`blocking: wrong during the run:\n${anomalies.join("\n")}`)
  process.exit(1)
}
process.exit(0)
