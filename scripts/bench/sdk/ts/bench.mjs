// Benchmark of the TypeScript SDK against a real Miko and real loopback backends:
//
//   - overhead: the same requests through the SDK (endpoint resolved per request, failover armed)
//     and through a plain client with the backend's fixed address, interleaved one by one within
//     one run, sequential and concurrent; for the Promise client (`fetch`) and for the Effect
//     `HttpClient`; plus the SDK's own CPU cost per request over a stub `fetch`;
//   - changes reaching a running client (blocking query);
//   - failover: the time from a backend's death to the SDK no longer choosing it, while requests
//     flow (the circuit breaker) and while idle (Miko's lease expiry reaching the client), and the
//     errors callers saw.
//
// Usage: npm run build && node scripts/bench/sdk/ts/bench.mjs [--n 20000] [--no-write] [--smoke]
// (`--smoke`: 100 requests, one failover run each, short CPU-cost loops, nothing written)
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createServer } from "node:http"
import { cpus, loadavg } from "node:os"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { checkFigures, percentile, smoke, startMiko, writeSection } from "../../lib.mjs"
import { createClient, MikoClient } from "../../../../dist/sdk/index.js"

const { values: args } = parseArgs({
  options: {
    n: { type: "string", default: "20000" },
    c: { type: "string", default: "8" },
    "failover-runs": { type: "string", default: "5" },
    "no-write": { type: "boolean", default: false },
    smoke: { type: "boolean", default: false }
  }
})
const total = smoke ? 100 : Number(args.n)
const concurrency = Number(args.c)
const failoverRuns = smoke ? 1 : Number(args["failover-runs"])
/** Calls per round of the CPU-cost measurement over the stub `fetch`. */
const stubLoops = smoke ? 500 : 50_000

const adminToken = "bench-admin-token-0123456789"
const config = `http: { port: 0 }
general: { dataDir: ./data, shutdownTimeout: 2s }
registry: { deregisterCriticalAfter: 1m }
auth:
  tokens:
    - { name: admin, secret: "${adminToken}", roles: [admin] }
`

// The Promise client sends to services through the platform fetch it captured at construction.
// A client built while `counting` is installed shows which backend each of its attempts went to;
// every other client (and every plain request) uses the platform fetch itself.
const platformFetch = globalThis.fetch
const attempts = []
const counting = (input, init) => {
  attempts.push({ url: typeof input === "string" ? input : input.href ?? input.url, at: performance.now() })
  return platformFetch(input, init)
}
/** A Promise client whose attempts are recorded in `attempts`. */
const countedClient = (options) => {
  globalThis.fetch = counting
  const client = createClient(options)
  globalThis.fetch = platformFetch
  return client
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length
const median = (values) => percentile(values, 50)
const fixed = (value, digits = 1) => value.toFixed(digits)

const startBackend = async () => {
  const server = createServer((request, response) => {
    request.resume()
    response.end("ok")
  })
  server.keepAliveTimeout = 60_000
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    close: () => new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}

const loadAtStart = loadavg()[0]
const miko = await startMiko(config)
const call = async (method, path, body) => {
  const response = await platformFetch(`${miko.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${text}`)
  return text === "" ? undefined : JSON.parse(text)
}
const register = (service, body) => call("POST", `/v1/services/${service}/endpoints`, body)

const out = []
const line = (text = "") => out.push(text)

// ---- Overhead per request

const overhead = async () => {
  const backend = await startBackend()
  await register("bench", { id: "bench-1", publicAddress: backend.url })
  const client = createClient({ address: miko.url })
  await client.ready()
  const runtime = ManagedRuntime.make(Layer.mergeAll(FetchHttpClient.layer, MikoClient.layer({ address: miko.url })))
  const plainHttp = await runtime.runPromise(HttpClient.HttpClient)
  const sdkHttp = await runtime.runPromise(MikoClient.httpClient)

  const promisePlain = async () => (await platformFetch(`${backend.url}/item`)).text()
  const promiseSdk = async () => (await client.fetch("http://bench/item")).text()
  const effectPlain = Effect.flatMap(plainHttp.get(`${backend.url}/item`), (r) => r.text)
  const effectSdk = Effect.flatMap(sdkHttp.get("http://bench/item"), (r) => r.text)

  // One worker alternates plain and SDK requests, so both meet the same load from elsewhere.
  const promiseWorker = async (count, plain, sdk) => {
    for (let i = 0; i < count; i++) {
      const first = i % 2 === 0
      let t = performance.now()
      await (first ? promisePlain() : promiseSdk())
      const a = performance.now() - t
      t = performance.now()
      await (first ? promiseSdk() : promisePlain())
      const b = performance.now() - t
      plain.push(first ? a : b)
      sdk.push(first ? b : a)
    }
  }
  const effectWorker = (count, plain, sdk) =>
    Effect.gen(function*() {
      for (let i = 0; i < count; i++) {
        const first = i % 2 === 0
        let t = performance.now()
        yield* first ? effectPlain : effectSdk
        const a = performance.now() - t
        t = performance.now()
        yield* first ? effectSdk : effectPlain
        const b = performance.now() - t
        plain.push(first ? a : b)
        sdk.push(first ? b : a)
      }
    })

  const measure = async (kind, workers) => {
    const plain = []
    const sdk = []
    const per = Math.ceil(total / workers)
    const warm = Math.min(2000, per)
    if (kind === "promise") {
      await Promise.all(Array.from({ length: workers }, () => promiseWorker(warm, [], [])))
      await Promise.all(Array.from({ length: workers }, () => promiseWorker(per, plain, sdk)))
    } else {
      await runtime.runPromise(Effect.all(Array.from({ length: workers }, () => effectWorker(warm, [], [])), { concurrency: "unbounded" }))
      await runtime.runPromise(Effect.all(Array.from({ length: workers }, () => effectWorker(per, plain, sdk)), { concurrency: "unbounded" }))
    }
    return { plain, sdk }
  }

  const rows = []
  for (const [kind, label] of [["promise", "Promise `fetch`"], ["effect", "Effect `HttpClient`"]]) {
    for (const [workers, mode] of [[1, "sequential (1 worker)"], [concurrency, `concurrent (${concurrency} workers)`]]) {
      const { plain, sdk } = await measure(kind, workers)
      rows.push({ label, mode, plain, sdk })
      console.error(`${label} ${mode}: plain ${fixed(mean(plain) * 1000)} µs, sdk ${fixed(mean(sdk) * 1000)} µs`)
    }
  }

  line("### Overhead per request")
  line()
  line(`${total} GET requests per client and mode after a warm-up, plain and SDK requests interleaved one by one (each worker alternates, so both clients meet the same load from other processes on the machine). The backend is a \`node:http\` server answering 2 bytes. For the Promise client the plain side is the platform \`fetch\` with the backend's fixed address, the SDK side \`client.fetch("http://bench/item")\`; for Effect, \`FetchHttpClient\` with the fixed address against \`MikoClient.http\` (the same transport underneath). Each request is timed from the call to the body read. The SDK runs with its defaults: failover armed, a 10 s attempt timeout.`)
  line()
  line("| client | mode | plain mean µs | SDK mean µs | ratio of means | plain p50 µs | SDK p50 µs | ratio of p50 |")
  line("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
  const worst = { mean: 0, p50: 0 }
  for (const { label, mode, plain, sdk } of rows) {
    const ratioMean = mean(sdk) / mean(plain)
    const ratioP50 = median(sdk) / median(plain)
    worst.mean = Math.max(worst.mean, ratioMean)
    worst.p50 = Math.max(worst.p50, ratioP50)
    line(`| ${label} | ${mode} | ${fixed(mean(plain) * 1000)} | ${fixed(mean(sdk) * 1000)} | **${fixed(ratioMean, 3)}** | ${fixed(median(plain) * 1000)} | ${fixed(median(sdk) * 1000)} | **${fixed(ratioP50, 3)}** |`)
  }
  line()

  // For scale: what attaching an AbortSignal costs a plain fetch (the Promise client attaches none of its own).
  const bare = []
  const signalled = []
  for (let i = 0; i < total; i++) {
    const first = i % 2 === 0
    let t = performance.now()
    await (await platformFetch(`${backend.url}/item`, first ? undefined : { signal: new AbortController().signal })).text()
    const a = performance.now() - t
    t = performance.now()
    await (await platformFetch(`${backend.url}/item`, first ? { signal: new AbortController().signal } : undefined)).text()
    const b = performance.now() - t
    bare.push(first ? a : b)
    signalled.push(first ? b : a)
  }
  line(`For scale, in the same run: the platform \`fetch\` alone costs ${fixed((mean(signalled) - mean(bare)) * 1000)} µs more per request (p50 ${fixed((median(signalled) - median(bare)) * 1000)} µs) when the request carries an \`AbortSignal\` (${total} requests each, interleaved). That is why the Promise client attaches no signal of its own (cancellation comes from the caller's \`init.signal\`; a timed-out attempt is abandoned), while the Effect \`HttpClient\` carries one on every request, plain or through the SDK.`)
  line()

  // The SDK's own work per request, without a network: a stub fetch that answers at once (the
  // same response every time: nothing reads its body). Both clients below capture it.
  const stub = new Response("ok")
  globalThis.fetch = async () => stub
  const stubClient = createClient({ address: miko.url })
  const stubRuntime = ManagedRuntime.make(Layer.mergeAll(FetchHttpClient.layer, MikoClient.layer({ address: miko.url })))
  const stubPlainHttp = await stubRuntime.runPromise(HttpClient.HttpClient)
  const stubSdkHttp = await stubRuntime.runPromise(MikoClient.httpClient)
  await stubClient.ready()
  await stubRuntime.runPromise(MikoClient.ready)
  // Each figure is the best of three rounds of 50,000 calls: the least disturbed by collections and other processes.
  const loops = stubLoops
  const bestOf = async (round) => Math.min(await round(), await round(), await round())
  const time = (f) =>
    bestOf(async () => {
      for (let i = 0; i < loops / 10; i++) await f()
      const t = performance.now()
      for (let i = 0; i < loops; i++) await f()
      return ((performance.now() - t) / loops) * 1e6
    })
  const timeEffect = (effect) =>
    bestOf(async () => {
      await stubRuntime.runPromise(Effect.repeatN(effect, loops / 10 - 1))
      const t = performance.now()
      await stubRuntime.runPromise(Effect.repeatN(effect, loops - 1))
      return ((performance.now() - t) / loops) * 1e6
    })
  const effectPickTime = await timeEffect(MikoClient.pick("bench"))
  const pickTime = await time(() => stubClient.pick("bench"))
  const stubTime = await time(() => globalThis.fetch("http://127.0.0.1:1/item"))
  const sdkStubTime = await time(() => stubClient.fetch("http://bench/item"))
  const effectPlainTime = await timeEffect(stubPlainHttp.get("http://127.0.0.1:1/item"))
  const effectSdkTime = await timeEffect(stubSdkHttp.get("http://bench/item"))
  globalThis.fetch = platformFetch
  line(`The SDK's own CPU cost, over a stub \`fetch\` that answers without a network (best of three rounds of ${loops} calls, after a warm-up): Promise \`client.fetch\` ${fixed(sdkStubTime / 1000, 2)} µs per call against ${fixed(stubTime / 1000, 2)} µs for the stub called directly, **${fixed((sdkStubTime - stubTime) / 1000, 2)} µs** of SDK work per request (lookup, choice, URL rewrite, deadline bookkeeping: the first attempt never enters the Effect runtime); Effect \`MikoClient.http\` ${fixed(effectSdkTime / 1000, 2)} µs against ${fixed(effectPlainTime / 1000, 2)} µs for \`FetchHttpClient\`, **${fixed((effectSdkTime - effectPlainTime) / 1000, 2)} µs** (the same, plus its own abort controller for the deadline and the failover's Effect steps). \`pick\`: ${fixed(effectPickTime / 1000, 2)} µs inside Effect, ${fixed(pickTime / 1000, 2)} µs per Promise call (a fiber each).`)
  line()
  await stubRuntime.dispose()
  await stubClient.close()
  await client.close()
  await runtime.dispose()
  await backend.close()
  return worst
}

// ---- Changes reaching a running client

const propagation = async () => {
  const backend = await startBackend()
  const client = createClient({ address: miko.url })
  await client.ready()
  const samples = []
  for (let i = 0; i < 20; i++) {
    const service = `prop-${i}`
    const t = performance.now()
    await register(service, { id: `${service}-1`, publicAddress: backend.url })
    for (;;) {
      if (await client.pick(service).then(() => true, () => false)) break
      await sleep(0)
    }
    samples.push(performance.now() - t)
  }
  line("### Changes reaching the client")
  line()
  line(`From sending a registration to Miko until \`pick\` on an already running client finds it (blocking query), ${samples.length} samples: median **${fixed(median(samples))} ms**, max ${fixed(Math.max(...samples))} ms.`)
  line()
  await client.close()
  await backend.close()
  return median(samples)
}

// ---- Failover

const failoverWithTraffic = async () => {
  const rows = []
  for (let run = 1; run <= failoverRuns; run++) {
    const service = `fail-${run}`
    const backends = await Promise.all([1, 2, 3].map(() => startBackend()))
    for (const [n, b] of backends.entries()) await register(service, { id: `${service}-${n + 1}`, publicAddress: b.url })
    const client = countedClient({ address: miko.url })
    while ((await client.endpoints(service).catch(() => [])).length < 3) await sleep(5)
    const dead = backends[1]
    let stop = false
    let requests = 0
    let errors = 0
    const worker = async () => {
      while (!stop) {
        const response = await client.fetch(`http://${service}/item`).catch(() => undefined)
        if (response === undefined || response.status !== 200) errors++
        else await response.text()
        requests++
      }
    }
    attempts.length = 0
    const workers = Array.from({ length: 4 }, worker)
    await sleep(300)
    const diedAt = performance.now()
    await dead.close()
    await sleep(1_000)
    stop = true
    await Promise.all(workers)
    const onDead = attempts.filter((a) => a.url.startsWith(dead.url) && a.at >= diedAt)
    const detection = onDead.length === 0 ? 0 : onDead[onDead.length - 1].at - diedAt
    rows.push({ run, requests, errors, attemptsOnDead: onDead.length, detection })
    await client.close()
    await Promise.all(backends.filter((b) => b !== dead).map((b) => b.close()))
  }
  const detections = rows.map((r) => r.detection)
  line("### Failover")
  line()
  line("Three backends of one service; 4 workers send GET requests in a loop through the Promise client (default settings: 3 attempts, 10 s cool-down); one backend is closed abruptly (listener and connections) after 300 ms, and the loop runs 1 s more. *Detection* is the time from the close to the last attempt the SDK sent to the dead backend (attempts are counted at the platform `fetch` the client sends through); after it, the backend is no longer chosen. " + `${failoverRuns} runs.`)
  line()
  line("| run | requests | caller-visible errors | attempts on the dead backend after its death | detection |")
  line("| ---: | ---: | ---: | ---: | ---: |")
  for (const r of rows) line(`| ${r.run} | ${r.requests} | ${r.errors} | ${r.attemptsOnDead} | ${fixed(r.detection)} ms |`)
  const totalErrors = rows.reduce((a, r) => a + r.errors, 0)
  line()
  line(`With traffic: detection median **${fixed(median(detections))} ms**, max ${fixed(Math.max(...detections))} ms; **${totalErrors}** caller-visible errors in all.`)
  line()
  return totalErrors
}

const failoverIdle = async () => {
  const samples = []
  for (let run = 1; run <= failoverRuns; run++) {
    const service = `idle-${run}`
    const backends = await Promise.all([1, 2].map(() => startBackend()))
    const heartbeat = []
    for (const [n, b] of backends.entries()) {
      const id = `${service}-${n + 1}`
      await register(service, { id, publicAddress: b.url, ttl: "1s" })
      heartbeat.push(setInterval(() => void call("PUT", `/v1/services/${service}/endpoints/${id}/heartbeat`).catch(() => undefined), 333))
    }
    const client = createClient({ address: miko.url })
    while ((await client.endpoints(service).catch(() => [])).filter((e) => e.status === "passing").length < 2) await sleep(5)
    await sleep(400)
    // The backend and its heartbeats die together.
    clearInterval(heartbeat[1])
    const diedAt = performance.now()
    await backends[1].close()
    for (;;) {
      const endpoints = await client.endpoints(service)
      if (endpoints.find((e) => e.id === `${service}-2`)?.status !== "passing") break
      await sleep(1)
    }
    samples.push(performance.now() - diedAt)
    clearInterval(heartbeat[0])
    await client.close()
    await backends[0].close()
  }
  line(`Without traffic nothing fails a request, so the news comes from Miko: the dying backend's lease (ttl 1 s, heartbeats every ttl/3) lapses, Miko marks it critical (its sweep runs every 250 ms) and the blocking query brings the change. From the death (last heartbeat at most ttl/3 earlier) until \`pick\` can no longer choose it, ${failoverRuns} runs: median **${fixed(median(samples))} ms**, max ${fixed(Math.max(...samples))} ms (bounded by ttl + sweep + propagation).`)
  line()
  return median(samples)
}

const worst = await overhead()
const propagationMedian = await propagation()
const errors = await failoverWithTraffic()
const idleDetection = await failoverIdle()
await miko.stop()

const percent = (ratio) => (ratio <= 1 ? "none measurable" : `+${fixed((ratio - 1) * 100)}%`)
line(`Goal: under 5% overhead (here at most ${percent(worst.mean)} in the ratio of means, ${percent(worst.p50)} in the ratio of medians: ${worst.mean < 1.05 ? "met" : worst.p50 < 1.05 ? "met for medians, not for means" : "not met"}), failover with zero caller-visible errors (${errors}: ${errors === 0 ? "met" : "not met"}).`)

const cpu = cpus()[0]?.model ?? "unknown CPU"
const header = [
  "## SDK: TypeScript",
  "",
  `\`scripts/bench/sdk/ts/bench.mjs\` (\`node scripts/bench/sdk/ts/bench.mjs\` after \`npm run build\`): a real Miko, loopback backends (\`node:http\` servers answering 2 bytes), Node ${process.version}, ${cpus().length} CPUs (${cpu}); load average ${fixed(loadAtStart, 2)} at the start and ${fixed(loadavg()[0], 2)} at the end (other work on the machine stretches every figure, plain and SDK alike).`,
  ""
]
const markdown = [...header, ...out].join("\n")
console.log(markdown)
checkFigures("sdk/ts", {
  "worst ratio of means": worst.mean, "worst ratio of p50": worst.p50,
  "propagation median": propagationMedian, "idle failover detection median": idleDetection
})
if (!args["no-write"] && !smoke) writeSection("sdk-ts", markdown)
process.exit(0)
