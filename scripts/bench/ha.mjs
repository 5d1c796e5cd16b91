// Miko on PostgreSQL (three replicas, one database) against a single SQLite Miko, in one run:
// endpoint-list throughput, and how long a registration takes to wake a blocked long-poll
// (on another replica for PostgreSQL, on the same process for SQLite).
// Usage: npm run build && node scripts/bench/ha.mjs [seconds-per-run] [postgres-admin-url] [--smoke]
// The admin URL defaults to MIKO_TEST_POSTGRES_URL, else the server scripts/postgres.sh starts.
import {
  checkFigures, createPostgresDatabase, fillDirectory, percentile, positionalArgs, postgresAdminUrl, smoke, startMiko, writeSection
} from "./lib.mjs"
import { runWrk } from "./wrk.mjs"

// Smoke mode keeps every step but shrinks it: a small directory, short loads, few rounds.
const sizes = smoke
  ? { seconds: 1, rounds: 1, connections: 6, services: 5, perService: 4, settleMs: 300, propagationRounds: 5 }
  : { seconds: Number(positionalArgs()[0] ?? 10), rounds: 2, connections: 50, services: 50, perService: 20, settleMs: 1500, propagationRounds: 200 }
const { seconds, connections } = sizes
const adminUrl = postgresAdminUrl(positionalArgs()[1])
const token = "bench-admin-token-0123456789"
const auth = `auth: { tokens: [ { name: bench, secret: "${token}", roles: [admin] } ] }`

// A database of its own on the server.
const database = await createPostgresDatabase(adminUrl)
const databaseUrl = database.url

const sqlite = await startMiko(`http: { port: 0 }\n${auth}\n`)
const replicaConfig = `http: { port: 0 }
${auth}
storage: { driver: postgres, postgres: { url: "${databaseUrl}" } }
`
const replicas = []
for (let i = 0; i < 3; i++) replicas.push(await startMiko(replicaConfig))

const post = (url, path, body) =>
  fetch(`${url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) })

// The same directory in both: by default 1,000 endpoints over 50 services.
await fillDirectory(sqlite.url, token, sizes)
await fillDirectory(replicas[0].url, token, sizes)
// Time for the other replicas to read the registrations from the shared log.
await new Promise((r) => setTimeout(r, sizes.settleMs))

// Throughput: 50 connections on the SQLite Miko; 50 connections spread over the three replicas,
// one wrk per replica. One wrk thread each, so that load generation takes as little of the two cores as it can.
const load = (url, connections) => runWrk({ url: `${url}/v1/endpoints`, threads: 1, connections, duration: seconds })
const total = (results) => ({
  rps: results.reduce((sum, r) => sum + r.rps, 0),
  p50: Math.max(...results.map((r) => r.latency[50])),
  p99: Math.max(...results.map((r) => r.latency[99])),
  errors: results.reduce((sum, r) => sum + r.errors, 0)
})
/** `connections` split over the replicas, the first taking the remainder. */
const share = (i) => Math.floor(connections / replicas.length) + (i === 0 ? connections % replicas.length : 0)
const runs = { sqlite: [], one: [], three: [] }
for (let round = 0; round < sizes.rounds; round++) {
  runs.sqlite.push(total([await load(sqlite.url, connections)]))
  runs.one.push(total([await load(replicas[0].url, connections)]))
  runs.three.push(total(await Promise.all(replicas.map((r, i) => load(r.url, share(i))))))
}
const mean = (list, key) => list.reduce((sum, r) => sum + r[key], 0) / list.length
const summary = (list) => ({ rps: mean(list, "rps"), p50: mean(list, "p50"), p99: mean(list, "p99"), errors: list.reduce((s, r) => s + r.errors, 0) })
const s = summary(runs.sqlite)
const one = summary(runs.one)
const three = summary(runs.three)

// Propagation: a registration on one process, a long-poll blocked on another (or the same, for SQLite).
const propagation = async (writer, reader, rounds) => {
  const times = []
  for (let i = 0; i < rounds; i++) {
    const index = Number((await fetch(`${reader}/v1/endpoints?service=probe`)).headers.get("x-miko-index"))
    const woke = fetch(`${reader}/v1/endpoints?service=probe&index=${index}&wait=30s`).then(() => performance.now())
    await new Promise((r) => setTimeout(r, 20))
    const started = performance.now()
    await post(writer, "/v1/services/probe/endpoints", { id: `probe-${i % 5}`, publicAddress: `https://probe-${i}.example.com` })
    times.push((await woke) - started)
  }
  return times
}
const rounds = sizes.propagationRounds
const sameProcess = await propagation(sqlite.url, sqlite.url, rounds)
const crossReplica = await propagation(replicas[0].url, replicas[2].url, rounds)

await Promise.all([sqlite.stop(), ...replicas.map((r) => r.stop())])
await database.drop()

const ms = (n) => `${n.toFixed(1)} ms`
const ratio = (a, b) => `${(a / b).toFixed(2)}×`
const result = {
  throughput: { sqlite: s, postgresOneReplica: one, postgresThreeReplicas: three },
  propagation: {
    sqlite: { p50: percentile(sameProcess, 50), p99: percentile(sameProcess, 99) },
    postgres: { p50: percentile(crossReplica, 50), p99: percentile(crossReplica, 99) }
  }
}
console.log(JSON.stringify(result, null, 2))

const section = `## High availability: PostgreSQL replicas against a single SQLite Miko

\`node scripts/bench/ha.mjs ${seconds}\`: one SQLite Miko and three Miko replicas on one PostgreSQL 15 database (the
test server of \`scripts/postgres.sh\`, on the same 2-core machine as every Miko and the load generator), ${(sizes.services * sizes.perService).toLocaleString("en")}
endpoints in ${sizes.services} services in both, wrk (1 thread per server loaded, \`--latency\`), ${seconds} s per load run, ${sizes.rounds === 1 ? "one round" : `${sizes.rounds} rounds`} each, in one run.

| \`GET /v1/endpoints\`, ${connections} connections | requests/s | p50 | p99 | errors | ratio to SQLite |
| --- | --- | --- | --- | --- | --- |
| SQLite, one Miko (baseline) | ${s.rps.toFixed(0)} | ${ms(s.p50)} | ${ms(s.p99)} | ${s.errors} | 1.00× |
| PostgreSQL, one replica | ${one.rps.toFixed(0)} | ${ms(one.p50)} | ${ms(one.p99)} | ${one.errors} | ${ratio(one.rps, s.rps)} |
| PostgreSQL, three replicas together | ${three.rps.toFixed(0)} | ${ms(three.p50)} | ${ms(three.p99)} | ${three.errors} | ${ratio(three.rps, s.rps)} |

| registration → blocked long-poll answers (${rounds} rounds) | p50 | p99 | ratio to SQLite (p50) |
| --- | --- | --- | --- |
| SQLite, same process (baseline) | ${ms(result.propagation.sqlite.p50)} | ${ms(result.propagation.sqlite.p99)} | 1.00× |
| PostgreSQL, written on replica A, long-poll on replica C | ${ms(result.propagation.postgres.p50)} | ${ms(result.propagation.postgres.p99)} | ${ratio(result.propagation.postgres.p50, result.propagation.sqlite.p50)} |

Reads never touch the database: every replica answers from its own copy of the directory, so one replica
serves about what a SQLite Miko does, and three replicas on one machine share its two cores (on separate
machines they add up). A change crosses replicas as a PostgreSQL notification carrying the new index; the
replica then reads the change from the shared log, well inside the 1 s goal.`
console.log(section)
checkFigures("ha", {
  "SQLite req/s": s.rps, "one replica req/s": one.rps, "three replicas req/s": three.rps,
  "ratio one replica / SQLite": one.rps / s.rps, "ratio three replicas / SQLite": three.rps / s.rps,
  "SQLite propagation p50": result.propagation.sqlite.p50, "cross-replica propagation p50": result.propagation.postgres.p50
})
if (!smoke) writeSection("ha", section)
