// "100,000 endpoints on one Miko": how the registry holds up as its directory grows toward 100,000
// endpoints over 5,000 services. Every figure beside a baseline measured in the same run:
//   - registrations per second at 1, 16 and 64 writers (wrk, a unique id per request), each on a fresh
//     Miko of 100 endpoints, against a bare node:http server answering Miko's 201 bytes;
//   - the registration rate over windows while one Miko fills (capped by time), against its rate at 100;
//   - at the largest directory reached: resident memory, stop and start to ready on the same data,
//     GET /v1/endpoints?service=probe (wrk) and one registration reaching 100 blocking watchers of probe,
//     each against a Miko of 100 endpoints in which probe is the same 20 endpoints;
//   - heartbeats per second, wrk cycling through every registered endpoint, against the bare server
//     answering Miko's 200 bytes;
//   - registrations and heartbeats on three replicas sharing PostgreSQL beside a SQLite Miko, at 10,000.
// Usage: npm run build && node scripts/bench/scale.mjs [--target=100000] [--services=5000] [--fill-minutes=4]
//   [--seconds=5] [--pg-size=10000] [--pg-seconds=5] [--pg-fill-minutes=1.5] [--postgres=ADMIN_URL] [--smoke]
// The PostgreSQL admin URL defaults to MIKO_TEST_POSTGRES_URL, else the server scripts/postgres.sh starts.
// Every endpoint carries a lease (ttl 1h, as a fleet's would) that no run lasts long enough to lapse.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { Agent } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  checkFigures, collectAnswers, createPostgresDatabase, getRaw, machine, machineNote, percentile, postgresAdminUrl, replayHeaders,
  requestRaw, rssMiB, smoke, startBare, startMiko, watchGroup, writeSection
} from "./lib.mjs"
import { runWrk } from "./wrk.mjs"

/** `--name=value` from the command line, else `fallback`. */
const flag = (name, fallback) => {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`))
  return arg === undefined ? fallback : arg.slice(name.length + 3)
}

// Smoke mode keeps every step but shrinks it to a few seconds each. The full run stays under ten
// minutes on two cores: the fill is capped by time (--fill-minutes) rather than by size, because
// how far it gets is itself a figure. Bigger: --target=100000 --fill-minutes=30 --seconds=10.
const sizes = smoke
  ? {
    // Both ends only (one wrk thread, and several): every Miko started costs about a second.
    writers: [1, 64], registerSeconds: 1, warmUpSeconds: 1, curveSeconds: 1, perService: 4, smallServices: 5, target: 400, services: 50, fillMinutes: 0.05,
    fillWriters: 16, seconds: 1, rounds: 1, watchers: 5, watchRounds: 1, settleMs: 100, pgSize: 100, pgServices: 10, pgSeconds: 1,
    pgFillMinutes: 0.01
  }
  : {
    writers: [1, 16, 64], registerSeconds: 5, warmUpSeconds: 3, curveSeconds: 5, perService: 20, smallServices: 5, target: Number(flag("target", 100_000)),
    services: Number(flag("services", 5_000)), fillMinutes: Number(flag("fill-minutes", 4)), fillWriters: 16,
    seconds: Number(flag("seconds", 5)), rounds: 2, watchers: 100, watchRounds: 10, settleMs: 300,
    pgSize: Number(flag("pg-size", 10_000)), pgServices: 500, pgSeconds: Number(flag("pg-seconds", 5)),
    pgFillMinutes: Number(flag("pg-fill-minutes", 1.5))
  }
// The requirement's load for throughput: two wrk threads, 50 connections.
const threads = 2
const connections = smoke ? 8 : 50
// Long enough that no lease lapses during a run (a lapse is a change that would disturb every figure),
// while every endpoint still has a lease to renew, as in a fleet.
const leaseTtl = "1h"
const probe = "probe"
const adminToken = "bench-admin-token-0123456789"
const writerToken = "bench-writer-token-0123456789"
const auth = `auth: { tokens: [ { name: bench, secret: "${adminToken}", roles: [admin] }, { name: writer, secret: "${writerToken}", roles: [register] } ] }`
const sqliteConfig = `http: { port: 0 }\n${auth}\n`
const writerHeaders = { authorization: `Bearer ${writerToken}`, "content-type": "application/json" }
const anomalies = []
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const range = (n) => Array.from({ length: n }, (_, i) => i)
const count = (n) => Math.round(n).toLocaleString("en")
const plural = (n, noun) => `${count(n)} ${noun}${n === 1 ? "" : "s"}`

// ---------------------------------------------------------------------------------------------
// Registrations: the body of endpoint n, from Node and (the same JSON) from wrk's Lua.

/** Registration n: every field a fleet's endpoint has, so that each is stored and rendered at its usual size. */
const registration = (id, n) => ({
  id,
  publicAddress: `https://${id}.example.com`,
  internalAddress: `http://10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}:8080`,
  zone: `zone-${n % 3}`,
  tags: ["bench"],
  weight: 1 + (n % 5),
  ttl: leaseTtl
})

/** Lua building the same JSON as `registration` (keep the two alike). */
const luaRegistration = `
local function registration(id, n)
  return string.format('{"id":"%s","publicAddress":"https://%s.example.com","internalAddress":"http://10.%d.%d.%d:8080","zone":"zone-%d","tags":["bench"],"weight":%d,"ttl":"${leaseTtl}"}',
    id, id, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256, n % 3, 1 + n % 5)
end
`

/** Numbers wrk's threads 0, 1, ... in `threadIndex`: Lua states share nothing, so ids are split by thread. */
const luaThreadIndex = `
local nextThread = 0
function setup(thread)
  thread:set("threadIndex", nextThread)
  nextThread = nextThread + 1
end
`

/**
 * wrk script registering a new endpoint with every request: ids `prefix-n` never repeat within a run
 * (thread t sends n = t, t + threads, ...), and services `svc-1` ... `svc-{services}` (or another prefix) take them in turn
 * from `offset`, so that a directory filled over many runs stays even across its services.
 */
const registrationScript = ({ prefix, threads, services, offset = 0, servicePrefix = "svc" }) => `
wrk.method = "POST"
${luaRegistration}
${luaThreadIndex}
local sent = 0
function request()
  local n = sent * ${threads} + threadIndex
  sent = sent + 1
  local service = "${servicePrefix}-" .. (1 + (${offset} + n) % ${services})
  return wrk.format(nil, "/v1/services/" .. service .. "/endpoints", nil, registration("${prefix}-" .. n, n))
end
`

/**
 * wrk script sending heartbeats to the endpoints whose paths are in `file`, one per line, in turn.
 * Each of the `parts × threads` threads starts at its own share of the list, so that no two renew
 * the same endpoints together; `part` numbers the wrk process when several share the list.
 */
const heartbeatScript = ({ file, threads, part = 0, parts = 1 }) => `
wrk.method = "PUT"
${luaThreadIndex}
local paths = {}
local at = 0
function init(args)
  for line in io.lines("${file}") do paths[#paths + 1] = line end
  at = math.floor(#paths * (${part} * ${threads} + threadIndex) / (${parts} * ${threads}))
end
function request()
  at = at % #paths + 1
  return wrk.format(nil, paths[at])
end
`

/** One registration over HTTP with the writer token; a refusal fails the run (the directory would be short of it). */
const register = async (url, service, body) => {
  const response = await fetch(`${url}/v1/services/${service}/endpoints`, { method: "POST", headers: writerHeaders, body: JSON.stringify(body) })
  if (!response.ok) throw new Error(`registering ${service}/${body.id}: ${response.status} ${await response.text()}`)
}

/** Calls `work` on each item of `list`, `writers` calls in flight at once. */
const inTurn = async (list, writers, work) => {
  let next = 0
  const writer = async () => {
    while (next < list.length) await work(list[next++])
  }
  await Promise.all(range(writers).map(writer))
}

/** Registers `list` ({service, id, n}) from Node: exact sizes, where wrk's windows overshoot. */
const registerAll = (url, list) => inTurn(list, 16, ({ service, id, n }) => register(url, service, registration(id, n)))

/**
 * The small directory, which is also where the big one starts: service probe and `smallServices - 1`
 * others, `perService` endpoints each (100 in all). Probe is the service read and watched in both.
 */
const seed = () => [
  ...range(sizes.perService).map((i) => ({ service: probe, id: `probe-${i}`, n: i })),
  ...range(sizes.smallServices - 1).flatMap((s) =>
    range(sizes.perService).map((i) => ({ service: `svc-${s + 1}`, id: `seed-${s + 1}-${i}`, n: (s + 1) * sizes.perService + i })))
]

/** How many endpoints Miko holds, from GET /v1/services (counted by Miko, not by the load generator). */
const directorySize = async (url) => {
  const response = await fetch(`${url}/v1/services`, { headers: { authorization: `Bearer ${adminToken}` } })
  const { services } = await response.json()
  return services.reduce((sum, s) => sum + s.endpoints, 0)
}

/** Miko's answer to one registration, as sent: the bytes the bare server answers registrations with. */
const captureRegistration = (url) =>
  requestRaw(`${url}/v1/services/svc-1/endpoints`, {
    method: "POST", headers: writerHeaders, body: JSON.stringify(registration("capture-0", 0))
  })

/**
 * The figures of one wrk run, errors noted as anomalies under `what`. A run in which no request
 * completed has no latencies (NaN here, and in the docs): every request took longer than the run.
 */
const figures = (what, result) => {
  if (result.errors > 0) anomalies.push(`${what}: ${result.errors} errors (socket errors, timeouts or statuses >= 400) in ${result.requests} requests`)
  if (result.requests === 0) anomalies.push(`${what}: no request completed during the run`)
  return { rps: result.rps, p50: result.latency[50] ?? NaN, p99: result.latency[99] ?? NaN, errors: result.errors, requests: result.requests }
}

/**
 * `total` connections spread over `urls`, one wrk each (two threads on a single server, one thread each
 * when several share the cores; never more threads than connections), all at once; their rates summed,
 * the worst of their latencies. `script(part, wrkThreads)` is the Lua script of the wrk on `urls[part]`.
 */
const spread = async (urls, total, { seconds, headers, script }) => {
  const used = urls.slice(0, Math.min(urls.length, total))
  const results = await Promise.all(used.map((url, part) => {
    const share = Math.floor(total / used.length) + (part === 0 ? total % used.length : 0)
    const wrkThreads = Math.min(share, used.length === 1 ? threads : 1)
    return runWrk({ url, threads: wrkThreads, connections: share, duration: seconds, headers, script: script(part, wrkThreads) })
  }))
  const worst = (p) => Math.max(...results.map((r) => r.latency[p] ?? NaN))
  return {
    rps: results.reduce((sum, r) => sum + r.rps, 0), requests: results.reduce((sum, r) => sum + r.requests, 0),
    latency: { 50: worst(50), 99: worst(99) }, errors: results.reduce((sum, r) => sum + r.errors, 0)
  }
}

/** New endpoints from `writers` connections over `urls` for `seconds` (ids unique per server through the prefix). */
const registrations = (urls, { writers, seconds, prefix, services, offset = 0, servicePrefix }) =>
  spread(urls, writers, {
    seconds, headers: writerHeaders,
    script: (part, wrkThreads) =>
      registrationScript({ prefix: urls.length === 1 ? prefix : `${prefix}-r${part}`, threads: wrkThreads, services, offset, servicePrefix })
  })

/**
 * A fresh Miko's first seconds of registrations are its JIT's: they would make the rate at 100 endpoints,
 * measured first, look low against every later one. Registers endpoints in services `warm-*` for a while
 * and deregisters them again, so that the directory is back to its size, checked.
 */
const warmUp = async (url) => {
  const size = await directorySize(url)
  await registrations([url], { writers: sizes.fillWriters, seconds: sizes.warmUpSeconds, prefix: "warm", services: 50, servicePrefix: "warm" })
  // Registrations wrk had sent when it stopped may still land: deregister until none is left.
  for (let pass = 0; pass < 5; pass++) {
    const { services } = await (await fetch(`${url}/v1/endpoints`)).json()
    const warm = Object.entries(services).filter(([service]) => service.startsWith("warm-"))
      .flatMap(([service, endpoints]) => endpoints.map((endpoint) => `${url}/v1/services/${service}/endpoints/${endpoint.id}`))
    if (warm.length === 0 && pass > 0) break
    await inTurn(warm, sizes.fillWriters, async (endpoint) => {
      const response = await fetch(endpoint, { method: "DELETE", headers: writerHeaders })
      if (!response.ok && response.status !== 404) throw new Error(`deregistering ${endpoint}: ${response.status} ${await response.text()}`)
    })
    await sleep(200)
  }
  const after = await directorySize(url)
  if (after !== size) anomalies.push(`warm-up: the directory held ${after} endpoints after it, ${size} before`)
}

// ---------------------------------------------------------------------------------------------
// 1. Registrations per second at 1, 16 and 64 writers, each on a fresh Miko of 100 endpoints (the
// rate depends on the directory's size, so each writer count meets the same one), then the bare
// server under the same wrk script, answering every request with Miko's 201.

const measureWriters = async (bare) => {
  const rows = []
  for (const writers of sizes.writers) {
    const miko = await startMiko(sqliteConfig)
    await registerAll(miko.url, seed())
    await warmUp(miko.url)
    const captured = await captureRegistration(miko.url)
    const before = await directorySize(miko.url)
    const load = { writers, seconds: sizes.registerSeconds, prefix: `w${writers}`, services: sizes.services - 1 }
    const mikoRun = figures(`registrations, ${plural(writers, "writer")}, Miko`, await registrations([miko.url], load))
    const after = await directorySize(miko.url)
    await miko.stop()
    await bare.answer({ status: captured.status, headers: replayHeaders(captured.headers), body: captured.body })
    const bareRun = figures(`registrations, ${plural(writers, "writer")}, bare`, await registrations([bare.url], load))
    rows.push({ writers, miko: mikoRun, bare: bareRun, before, after })
    console.log(`registrations, ${plural(writers, "writer")}: Miko ${mikoRun.rps.toFixed(0)}/s, bare ${bareRun.rps.toFixed(0)}/s (directory ${before} → ${after})`)
  }
  return rows
}

// ---------------------------------------------------------------------------------------------
// 2. Filling one Miko: wrk in back-to-back windows, 16 writers, the directory's size read from Miko
// between windows. Short windows while it is small, so that "the rate at 100" is measured near 100.

const windowSeconds = (size, target, lastRate) => {
  const length = smoke || size < 3_000 ? 1 : 2
  // Near the target, a window no longer than it takes to reach it (wrk counts whole seconds).
  const left = target - size
  return lastRate > 0 ? Math.max(1, Math.min(length, Math.ceil(left / lastRate))) : length
}

/** Fills the directory behind `urls` (writers spread over them) toward `target`, until `minutes` have passed. */
const fillDirectory = async (urls, { target, services, writers, minutes }) => {
  const deadline = performance.now() + minutes * 60_000
  const started = performance.now()
  const windows = []
  const url = urls[0]
  let size = await directorySize(url)
  while (size < target && performance.now() < deadline) {
    const seconds = windowSeconds(size, target, windows.at(-1)?.rps ?? 0)
    const load = { writers, seconds, prefix: `f${windows.length}`, services, offset: size }
    const run = figures(`filling at ${size} endpoints`, await registrations(urls, load))
    const after = await directorySize(url)
    windows.push({ from: size, to: after, seconds, ...run })
    console.log(`fill: ${size} → ${after} endpoints at ${run.rps.toFixed(0)}/s (p99 ${run.p99.toFixed(1)} ms)`)
    size = after
  }
  return { windows, size, seconds: (performance.now() - started) / 1000, reached: size >= target }
}

/** The sizes the rate curve is read at. */
const milestones = (target) => [100, 1_000, 3_000, 10_000, 30_000, 60_000, 100_000, 300_000, 1_000_000].filter((m) => m <= target)

/**
 * The rate over consecutive windows, together at least `sizes.curveSeconds` long: one window of a
 * second is at the mercy of one collection or one burst of other work on the machine.
 */
const joinWindows = (list) => ({
  from: list[0].from, to: list.at(-1).to,
  rps: list.reduce((sum, w) => sum + w.rps * w.seconds, 0) / list.reduce((sum, w) => sum + w.seconds, 0),
  p99: Math.max(...list.map((w) => w.p99))
})
const windowsFrom = (windows, first) => {
  const taken = []
  for (const w of windows.slice(first)) {
    taken.push(w)
    if (taken.reduce((sum, t) => sum + t.seconds, 0) >= sizes.curveSeconds) break
  }
  return taken
}
/** The rate from `size` on: from the first window that ended past it. */
const rateAt = (windows, size) => {
  const first = windows.findIndex((w) => w.to > size)
  return first === -1 ? undefined : joinWindows(windowsFrom(windows, first))
}
/** The rate at the end of the fill: its last windows, as long together as one point of the curve. */
const rateAtEnd = (windows) => joinWindows(windowsFrom([...windows].reverse(), 0).reverse())

// ---------------------------------------------------------------------------------------------
// 3. The big directory against the small one: memory, restart, reads of one service, watchers.

/** Polls /readyz until 200: the start is over when Miko says it is ready, not when it listens. */
const untilReady = async (url, timeoutMs = 600_000) => {
  const until = performance.now() + timeoutMs
  for (;;) {
    const status = await fetch(`${url}/readyz`).then((r) => r.status, () => 0)
    if (status === 200) return
    if (performance.now() > until) throw new Error(`${url} not ready within ${timeoutMs / 1000} s`)
    await sleep(5)
  }
}

/** Stops Miko and starts it again on the same data: the time to stop (SIGTERM → exit) and from spawn to ready. */
const restart = async (miko) => {
  const stopping = performance.now()
  await miko.stop()
  const spawned = performance.now()
  const next = await startMiko(sqliteConfig, { dir: miko.dir })
  await untilReady(next.url)
  return { miko: next, stopMs: spawned - stopping, readyMs: performance.now() - spawned }
}

/** GET /v1/endpoints?service=probe under wrk, anonymous, `rounds` times alternating which server goes first. */
const measureReads = async (servers) => {
  const runs = Object.fromEntries(Object.keys(servers).map((name) => [name, []]))
  const load = (url, duration) => runWrk({ url: `${url}/v1/endpoints?service=${probe}`, threads, connections, duration })
  // The first seconds after a restart are the JIT's, not the steady state's.
  if (!smoke) for (const url of Object.values(servers)) await load(url, 1)
  for (let round = 0; round < sizes.rounds; round++) {
    const names = Object.keys(servers)
    for (const name of round % 2 === 0 ? names : names.reverse()) runs[name].push(figures(`GET ?service=${probe}, ${name}`, await load(servers[name], sizes.seconds)))
  }
  return Object.fromEntries(Object.entries(runs).map(([name, list]) => [name, average(list)]))
}

const average = (list) => ({
  rps: mean(list.map((r) => r.rps)), p50: mean(list.map((r) => r.p50)), p99: mean(list.map((r) => r.p99)),
  errors: list.reduce((sum, r) => sum + r.errors, 0)
})
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length

/**
 * One round of watchers: `sizes.watchers` blocking queries on probe, then one registration to probe;
 * each answer timed from sending the registration. Checked: every answer a 200 that holds the new endpoint.
 */
const watchRound = async (name, url, agent, round) => {
  const index = (await getRaw(`${url}/v1/endpoints?service=${probe}`)).headers["x-miko-index"]
  const group = watchGroup(agent, `${url}/v1/endpoints?service=${probe}&index=${index}&wait=60s`, sizes.watchers)
  await group.sent
  // Miko says nothing of how many requests it holds: requests sent after the watchers must come back
  // through its event loop first, then a pause, before the write.
  for (let i = 0; i < 3; i++) await getRaw(`${url}/healthz`)
  await sleep(sizes.settleMs)
  const id = `watched-${round}`
  const writeAt = performance.now()
  await register(url, probe, registration(id, 90_000 + round))
  const answers = await collectAnswers(group, 20_000)
  const bad = answers.filter((a) => a.error !== undefined || a.status !== 200 || !a.body.includes(id)).length
  if (bad > 0) anomalies.push(`watchers, ${name}, round ${round + 1}: ${bad} answers failed or without the new endpoint`)
  if (answers.length < sizes.watchers) anomalies.push(`watchers, ${name}, round ${round + 1}: ${sizes.watchers - answers.length} not answered within 20 s`)
  const times = answers.map((a) => a.at - writeAt)
  return { times, last: Math.max(...times) }
}

/** Watcher rounds on each server in turn; p50, p99 and max over every answer, the median of each round's last. */
const measureWatchers = async (servers) => {
  const agent = new Agent({ keepAlive: true, maxSockets: sizes.watchers + 16 })
  const results = Object.fromEntries(Object.keys(servers).map((name) => [name, { times: [], last: [] }]))
  for (let round = 0; round < sizes.watchRounds; round++) {
    for (const [name, url] of Object.entries(servers)) {
      const { times, last } = await watchRound(name, url, agent, round)
      results[name].times.push(...times)
      results[name].last.push(last)
    }
  }
  agent.destroy()
  return Object.fromEntries(Object.entries(results).map(([name, r]) => [name, {
    p50: percentile(r.times, 50), p99: percentile(r.times, 99), max: Math.max(...r.times), last: percentile(r.last, 50), samples: r.times.length
  }]))
}

// ---------------------------------------------------------------------------------------------
// 4. Heartbeats: every endpoint Miko lists, in turn, from wrk.

/** Writes the heartbeat path of every endpoint `url` lists to a file for the Lua script; resolves to it and the count. */
const heartbeatPaths = async (url, dir) => {
  const { services } = await (await fetch(`${url}/v1/endpoints`)).json()
  const paths = Object.entries(services).flatMap(([service, endpoints]) =>
    endpoints.map((endpoint) => `/v1/services/${service}/endpoints/${endpoint.id}/heartbeat`))
  const file = join(dir, `heartbeats-${performance.now().toFixed(0)}.txt`)
  writeFileSync(file, `${paths.join("\n")}\n`)
  return { file, count: paths.length, first: paths[0] }
}

/** Milliseconds from sending one registration (to svc-1) until its answer. */
const timedRegistration = async (url, id) => {
  const started = performance.now()
  await register(url, "svc-1", registration(id, 0))
  return performance.now() - started
}

/** Heartbeats from `connections` spread over `urls`: replicas take them together. */
const heartbeatLoad = (urls, file, seconds) =>
  spread(urls, connections, {
    seconds, headers: { authorization: `Bearer ${writerToken}` },
    script: (part, wrkThreads) => heartbeatScript({ file, threads: wrkThreads, part, parts: urls.length })
  })

/**
 * Heartbeats on each Miko (its own endpoints) and on the bare server answering Miko's 200 to a heartbeat,
 * `rounds` times alternating the order; the bare server cycles the big directory's paths (it answers any path alike).
 */
const measureHeartbeats = async (subjects, bare, dir, { seconds, rounds }) => {
  const lists = Object.fromEntries(await Promise.all(Object.entries(subjects).map(async ([name, urls]) => [name, await heartbeatPaths(urls[0], dir)])))
  const biggestName = Object.keys(lists).reduce((a, b) => (lists[b].count > lists[a].count ? b : a))
  const biggest = lists[biggestName]
  const captured = await requestRaw(`${subjects[biggestName][0]}${biggest.first}`, { method: "PUT", headers: { authorization: `Bearer ${writerToken}` } })
  if (captured.status !== 200) anomalies.push(`heartbeat: status ${captured.status} (${captured.body})`)
  await bare.answer({ status: captured.status, headers: replayHeaders(captured.headers), body: captured.body })
  const all = { bare: [bare.url], ...subjects }
  const runs = Object.fromEntries(Object.keys(all).map((name) => [name, []]))
  const writeAfter = {}
  for (let round = 0; round < rounds; round++) {
    const names = Object.keys(all)
    for (const name of round % 2 === 0 ? names : names.reverse()) {
      const list = name === "bare" ? biggest : lists[name]
      runs[name].push(figures(`heartbeats, ${name}`, await heartbeatLoad(all[name], list.file, seconds)))
      // Renewals reach storage up to a second after their heartbeats: how long a write sent as the load
      // ends waits behind them.
      if (round === rounds - 1 && name !== "bare") writeAfter[name] = await timedRegistration(all[name][0], `after-heartbeats-${name}`)
    }
  }
  return Object.fromEntries(Object.entries(runs).map(([name, list]) => [name, {
    ...average(list), endpoints: (name === "bare" ? biggest : lists[name]).count, writeAfterMs: writeAfter[name]
  }]))
}

// ---------------------------------------------------------------------------------------------
// 5. PostgreSQL with three replicas beside a SQLite Miko, both filled to `pgSize`.

const measurePostgres = async (bare, dir) => {
  const database = await createPostgresDatabase(postgresAdminUrl(flag("postgres", undefined)))
  const replicaConfig = `http: { port: 0 }\n${auth}\nstorage: { driver: postgres, postgres: { url: "${database.url}" } }\n`
  // The first replica migrates the shared database; the other two then start together.
  const startReplicas = async () => {
    const first = await startMiko(replicaConfig)
    return [first, ...await Promise.all([startMiko(replicaConfig), startMiko(replicaConfig)])]
  }
  const [sqlite, replicas] = await phase("PostgreSQL: start", () => Promise.all([startMiko(sqliteConfig), startReplicas()]))
  // PostgreSQL first, capped by time; then SQLite to the size PostgreSQL reached, so that both meet the same directory.
  const fill = { target: sizes.pgSize, services: sizes.pgServices, writers: 64, minutes: sizes.pgFillMinutes }
  const replicaUrls = replicas.map((r) => r.url)
  const postgresFill = await phase("PostgreSQL: fill", () => fillDirectory(replicaUrls, fill))
  const sqliteFill = await phase("PostgreSQL: SQLite fill", () => fillDirectory([sqlite.url], { ...fill, target: postgresFill.size }))
  // The other replicas read the registrations from the shared log.
  await sleep(smoke ? 500 : 2_000)
  const seen = await Promise.all(replicas.map((r) => directorySize(r.url)))
  if (new Set(seen).size > 1) anomalies.push(`PostgreSQL: the replicas hold different directories after the fill: ${seen.join(", ")} endpoints`)
  // Heartbeats first, while both directories are the same size: the registrations below grow SQLite's faster.
  const heartbeats = await phase("PostgreSQL: heartbeats", () =>
    measureHeartbeats({ sqlite: [sqlite.url], postgres: replicaUrls }, bare, dir, { seconds: sizes.pgSeconds, rounds: 1 }))
  // The renewals of those heartbeats reach storage up to a second later (the registration timed after them
  // waited for what was left): not within the registrations' time.
  await sleep(smoke ? 200 : 2_000)
  const rows = []
  for (const writers of sizes.writers) {
    const load = { writers, seconds: sizes.pgSeconds, services: sizes.pgServices }
    const s = figures(`SQLite, ${plural(writers, "writer")}`, await registrations([sqlite.url], { ...load, prefix: `s${writers}` }))
    const p = figures(`PostgreSQL, ${plural(writers, "writer")}`, await registrations(replicaUrls, { ...load, prefix: `p${writers}` }))
    rows.push({ writers, sqlite: s, postgres: p })
    console.log(`PostgreSQL, ${plural(writers, "writer")}: ${p.rps.toFixed(0)}/s, SQLite ${s.rps.toFixed(0)}/s`)
  }
  const sizesAfter = { sqlite: await directorySize(sqlite.url), postgres: await directorySize(replicas[0].url) }
  await phase("PostgreSQL: stop", async () => {
    await Promise.all([sqlite.stop(), ...replicas.map((r) => r.stop())])
    await database.drop()
  })
  return { sqliteFill, postgresFill, rows, heartbeats, sizesAfter }
}

// ---------------------------------------------------------------------------------------------
// The run.

/** Runs one step and says on the console how long it took: the full run has a time budget to keep. */
const phase = async (name, step) => {
  const started = performance.now()
  const result = await step()
  console.log(`-- ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return result
}

const startedOn = machine()
const scratch = mkdtempSync(join(tmpdir(), "miko-scale-"))
const bare = await startBare()

const writerRows = await phase("registrations at each writer count", () => measureWriters(bare))

let [small, big] = await Promise.all([startMiko(sqliteConfig), startMiko(sqliteConfig)])
await registerAll(small.url, seed())
await registerAll(big.url, seed())
await warmUp(big.url)
const filled = await phase("fill", () =>
  fillDirectory([big.url], { target: sizes.target, services: sizes.services - 1, writers: sizes.fillWriters, minutes: sizes.fillMinutes }))
const smallSize = await directorySize(small.url)
const rssFilled = { small: rssMiB(small.child.pid), big: rssMiB(big.child.pid) }

const [smallRestart, bigRestart] = await phase("restarts", async () => [await restart(small), await restart(big)])
small = smallRestart.miko
big = bigRestart.miko
const sizeAfterRestart = await directorySize(big.url)
if (sizeAfterRestart !== filled.size) anomalies.push(`restart: the big directory held ${sizeAfterRestart} endpoints after it, ${filled.size} before`)
await sleep(smoke ? 200 : 1_000)
const rssIdle = { small: rssMiB(small.child.pid), big: rssMiB(big.child.pid) }

const servers = { small: small.url, big: big.url }
const reads = await phase("reads", () => measureReads(servers))
const watchers = await phase("watchers", () => measureWatchers(servers))
const heartbeats = await phase("heartbeats", () => measureHeartbeats({ small: [small.url], big: [big.url] }, bare, scratch, sizes))
const rssEnd = { small: rssMiB(small.child.pid), big: rssMiB(big.child.pid) }
await Promise.all([small.stop(), big.stop()])

const postgres = await phase("PostgreSQL beside SQLite", () => measurePostgres(bare, scratch))
await bare.stop()
rmSync(scratch, { recursive: true, force: true })
const endedOn = machine()

// ---------------------------------------------------------------------------------------------
// The report.

const fmt = (n, digits = 1) => n.toFixed(digits)
const x = (a, b) => (a / b).toFixed(2)
const span = (w) => `${count(w.from)} → ${count(w.to)}`
const atStart = rateAt(filled.windows, 0)
const atEnd = rateAtEnd(filled.windows)
// A milestone whose point would overlap the one before or the end's is left to them; the start always shows.
const curve = milestones(sizes.target).map((m) => rateAt(filled.windows, m)).filter((point) => point !== undefined)
  .reduce((kept, point) => (kept.length > 0 && (point.from < kept.at(-1).to || point.to > atEnd.from) ? kept : [...kept, point]), [])
  .concat([atEnd])
const goal = filled.reached
  ? `${atEnd.rps >= 0.8 * atStart.rps ? "met" : "not met"}: ${x(atEnd.rps, atStart.rps)} of the rate at ${count(atStart.from)}`
  : `not reached: the fill stopped at ${count(filled.size)} endpoints, where the rate was ${x(atEnd.rps, atStart.rps)} of the rate at ${count(atStart.from)}`
const bigName = `${count(filled.size)} endpoints / ${count(sizes.services)} services`
const smallName = `${count(smallSize)} endpoints / ${sizes.smallServices} services`
const pg = postgres
const hb = heartbeats

const section = `## 100,000 endpoints on one Miko (\`scripts/bench/scale.mjs\`)

\`node scripts/bench/scale.mjs\` after \`npm run build\`. ${machineNote(startedOn, endedOn)}

Every endpoint is registered with all the usual fields and a lease (ttl ${leaseTtl}, which no run lasts long enough to
lapse), by a token holding only the \`register\` role; loads are wrk with a Lua script, \`--latency\`. Bigger runs:
\`--target=N --services=N --fill-minutes=M\` for the fill, \`--seconds=S\` per load run, \`--pg-size=N --pg-seconds=S --pg-fill-minutes=M\`.

### Registrations per second

Each writer count on a fresh Miko of ${count(sizes.smallServices * sizes.perService)} endpoints (the rate depends on the size), warmed up with ${sizes.warmUpSeconds} s of
registrations deregistered again (a fresh process's first writes are its JIT's), then ${sizes.registerSeconds} s of wrk whose Lua script sends a new id
with every request, spread over ${count(sizes.services - 1)} services. Baseline: the same script against a bare
\`node:http\` server in a process of its own answering every request with the bytes and headers of Miko's \`201\`.

| writers | Miko reg/s | bare req/s | ratio Miko / bare | Miko p50 ms | Miko p99 ms | directory during the run | errors |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${writerRows.map((r) => `| ${r.writers} | ${fmt(r.miko.rps)} | ${fmt(r.bare.rps)} | **${x(r.miko.rps, r.bare.rps)}** | ${fmt(r.miko.p50)} | ${fmt(r.miko.p99)} | ${count(r.before)} → ${count(r.after)} | ${r.miko.errors} |`).join("\n")}

### Registration rate as the directory grows

One Miko, warmed up as above, filled from ${count(atStart.from)} endpoints with ${sizes.fillWriters} writers in back-to-back wrk windows (1 s below 3,000 endpoints,
2 s above), new endpoints taking the ${count(sizes.services - 1)} services in turn, the size read from Miko between windows;
capped at ${sizes.fillMinutes} min. It ${filled.reached ? "reached" : "got to"} **${count(filled.size)}** endpoints (target ${count(sizes.target)}) in ${fmt(filled.seconds, 0)} s, ${plural(filled.windows.length, "window")}.
Each rate below is over consecutive windows together at least ${sizes.curveSeconds} s long, from the first window that ended past
${milestones(sizes.target).map(count).join(", ")} endpoints as far as the fill got, and the last row over the fill's last windows. The baseline
is the rate at the start of the same fill.

| directory during the windows | reg/s | ratio to the rate at the start | p99 ms, worst window |
| ---: | ---: | ---: | ---: |
${curve.map((w) => `| ${span(w)} | ${fmt(w.rps)} | **${x(w.rps, atStart.rps)}** | ${fmt(w.p99)} |`).join("\n")}

Goal: the rate at 100,000 within 20% of the rate at 100 (${goal}).

### The largest directory against a small one

${bigName} (the fill above) against a Miko of ${smallName}, in the same run. In both, service \`${probe}\` is
the same ${sizes.perService} endpoints. Restart: SIGTERM, then \`miko serve\` again on the same data, timed from the spawn
until \`/readyz\` answers \`200\`. Reads: wrk, ${threads} threads, ${connections} connections, anonymous
\`GET /v1/endpoints?service=${probe}\`, ${sizes.seconds} s, ${sizes.rounds === 1 ? "one run" : `${sizes.rounds} runs`} each alternating, averaged. Watchers: ${sizes.watchers} blocking queries
on \`?service=${probe}&index=N&wait=60s\`, one registration to \`${probe}\`, each answer timed from sending it (${plural(sizes.watchRounds, "round")}).

| | ${smallName} | ${bigName} | ratio big / small |
| --- | ---: | ---: | ---: |
| RSS after filling, MiB | ${fmt(rssFilled.small)} | ${fmt(rssFilled.big)} | ${x(rssFilled.big, rssFilled.small)} |
| RSS 1 s after a restart, MiB | ${fmt(rssIdle.small)} | ${fmt(rssIdle.big)} | ${x(rssIdle.big, rssIdle.small)} |
| RSS at the end, MiB | ${fmt(rssEnd.small)} | ${fmt(rssEnd.big)} | ${x(rssEnd.big, rssEnd.small)} |
| stop, SIGTERM → exit, ms | ${fmt(smallRestart.stopMs, 0)} | ${fmt(bigRestart.stopMs, 0)} | ${x(bigRestart.stopMs, smallRestart.stopMs)} |
| start → ready on the same data, ms | ${fmt(smallRestart.readyMs, 0)} | **${fmt(bigRestart.readyMs, 0)}** | ${x(bigRestart.readyMs, smallRestart.readyMs)} |
| \`GET ?service=${probe}\`, req/s | ${fmt(reads.small.rps)} | **${fmt(reads.big.rps)}** | ${x(reads.big.rps, reads.small.rps)} |
| \`GET ?service=${probe}\`, p99 ms | ${fmt(reads.small.p99)} | ${fmt(reads.big.p99)} | ${x(reads.big.p99, reads.small.p99)} |
| watchers: registration → answer, p50 ms | ${fmt(watchers.small.p50)} | ${fmt(watchers.big.p50)} | ${x(watchers.big.p50, watchers.small.p50)} |
| watchers: registration → answer, p99 ms | ${fmt(watchers.small.p99)} | **${fmt(watchers.big.p99)}** | ${x(watchers.big.p99, watchers.small.p99)} |
| watchers: last answer, median of rounds, ms | ${fmt(watchers.small.last)} | ${fmt(watchers.big.last)} | ${x(watchers.big.last, watchers.small.last)} |

### Heartbeats per second

\`PUT /v1/services/{s}/endpoints/{id}/heartbeat\`, wrk ${threads} threads, ${connections} connections, ${sizes.seconds} s, ${sizes.rounds === 1 ? "one run" : `${sizes.rounds} runs`} each alternating, averaged;
the Lua script cycles through every endpoint the Miko lists, each thread from its own share. Baseline: the same script
against the bare server answering every request with Miko's \`200\` to a heartbeat. Miko writes the renewals to storage up to a
second after their heartbeats; the last column is the time until a registration sent to the Miko as its last run ended was answered.

| server | endpoints cycled | req/s | ratio to bare | p50 ms | p99 ms | errors | a registration right after, ms |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| bare node:http | ${count(hb.bare.endpoints)} | ${fmt(hb.bare.rps)} | 1.00 | ${fmt(hb.bare.p50)} | ${fmt(hb.bare.p99)} | ${hb.bare.errors} | |
| Miko, ${smallName} | ${count(hb.small.endpoints)} | ${fmt(hb.small.rps)} | **${x(hb.small.rps, hb.bare.rps)}** | ${fmt(hb.small.p50)} | ${fmt(hb.small.p99)} | ${hb.small.errors} | ${fmt(hb.small.writeAfterMs)} |
| Miko, ${bigName} | ${count(hb.big.endpoints)} | ${fmt(hb.big.rps)} | **${x(hb.big.rps, hb.bare.rps)}** | ${fmt(hb.big.p50)} | ${fmt(hb.big.p99)} | ${hb.big.errors} | ${fmt(hb.big.writeAfterMs)} |

Goal: at least 0.5 of the bare server (${hb.big.rps >= 0.5 * hb.bare.rps ? "met" : "not met"}: ${x(hb.big.rps, hb.bare.rps)} at ${count(hb.big.endpoints)} endpoints).

### PostgreSQL, three replicas, beside SQLite

A SQLite Miko and three Miko replicas on one PostgreSQL database (the test server of \`scripts/postgres.sh\`, durability
off, on the same two cores), each directory filled toward ${count(sizes.pgSize)} endpoints over ${sizes.pgServices} services (64 writers, spread over
the replicas; PostgreSQL first, capped at ${sizes.pgFillMinutes} min, then SQLite to the size PostgreSQL reached: SQLite reached ${count(pg.sqliteFill.size)} in ${fmt(pg.sqliteFill.seconds, 0)} s, PostgreSQL ${count(pg.postgresFill.size)} in ${fmt(pg.postgresFill.seconds, 0)} s). Loads of
${sizes.pgSeconds} s, one run each, heartbeats first (while both directories are the same), registrations 2 s after them (their
renewals are written up to a second later); on PostgreSQL spread over the three replicas, one wrk each, rates summed
(one writer: one replica). After the registrations SQLite held ${count(pg.sizesAfter.sqlite)} endpoints,
PostgreSQL ${count(pg.sizesAfter.postgres)}.

| | SQLite req/s | PostgreSQL req/s | ratio PostgreSQL / SQLite | SQLite p99 ms | PostgreSQL p99 ms | errors SQLite / PostgreSQL |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
${pg.rows.map((r) => `| registrations, ${plural(r.writers, "writer")} | ${fmt(r.sqlite.rps)} | ${fmt(r.postgres.rps)} | **${x(r.postgres.rps, r.sqlite.rps)}** | ${fmt(r.sqlite.p99)} | ${fmt(r.postgres.p99)} | ${r.sqlite.errors} / ${r.postgres.errors} |`).join("\n")}
| heartbeats, ${connections} connections, ${count(pg.heartbeats.sqlite.endpoints)} / ${count(pg.heartbeats.postgres.endpoints)} endpoints cycled | ${fmt(pg.heartbeats.sqlite.rps)} | ${fmt(pg.heartbeats.postgres.rps)} | **${x(pg.heartbeats.postgres.rps, pg.heartbeats.sqlite.rps)}** | ${fmt(pg.heartbeats.sqlite.p99)} | ${fmt(pg.heartbeats.postgres.p99)} | ${pg.heartbeats.sqlite.errors} / ${pg.heartbeats.postgres.errors} |
| a registration sent as the heartbeats ended, answered after, ms | ${fmt(pg.heartbeats.sqlite.writeAfterMs)} | ${fmt(pg.heartbeats.postgres.writeAfterMs)} | ${x(pg.heartbeats.postgres.writeAfterMs, pg.heartbeats.sqlite.writeAfterMs)} | | | |

The same heartbeat load on the bare server: ${fmt(pg.heartbeats.bare.rps)} req/s (SQLite ${x(pg.heartbeats.sqlite.rps, pg.heartbeats.bare.rps)} of it, PostgreSQL ${x(pg.heartbeats.postgres.rps, pg.heartbeats.bare.rps)}).
${anomalies.length === 0 ? "" : `\nWrong during this run:\n\n${anomalies.map((a) => `- ${a}`).join("\n")}\n`}`
console.log(section)
// A full run writes what it measured even when a figure is 0 (a write stalled for a whole run is a finding); smoke runs check first.
if (!smoke) writeSection("scale", section)
checkFigures("scale", {
  ...Object.fromEntries(writerRows.flatMap((r) => [[`Miko reg/s, ${plural(r.writers, "writer")}`, r.miko.rps], [`bare req/s, ${plural(r.writers, "writer")}`, r.bare.rps]])),
  "fill: reg/s at the start": atStart.rps, "fill: reg/s at the end": atEnd.rps, "fill: size reached": filled.size,
  "RSS big": rssIdle.big, "RSS small": rssIdle.small, "ready big ms": bigRestart.readyMs, "ready small ms": smallRestart.readyMs,
  "reads big req/s": reads.big.rps, "reads small req/s": reads.small.rps, "reads big p99": reads.big.p99,
  "watchers big p99": watchers.big.p99, "watchers small p99": watchers.small.p99,
  "heartbeats bare": hb.bare.rps, "heartbeats small": hb.small.rps, "heartbeats big": hb.big.rps,
  "registration after heartbeats, big": hb.big.writeAfterMs, "registration after heartbeats, PostgreSQL": pg.heartbeats.postgres.writeAfterMs,
  ...Object.fromEntries(pg.rows.flatMap((r) => [[`SQLite reg/s, ${plural(r.writers, "writer")}`, r.sqlite.rps], [`PostgreSQL reg/s, ${plural(r.writers, "writer")}`, r.postgres.rps]])),
  "SQLite heartbeats": pg.heartbeats.sqlite.rps, "PostgreSQL heartbeats": pg.heartbeats.postgres.rps
})
if (anomalies.length > 0) {
  console.error(`scale: wrong during the run:\n${anomalies.join("\n")}`)
  process.exit(1)
}
process.exit(0)
