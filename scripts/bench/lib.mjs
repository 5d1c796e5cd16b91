// Shared pieces of the benchmarks: start the built binary, the smoke mode, and write a section of docs/benchmarks.md.
import { execFileSync, fork, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs"
import { request } from "node:http"
import { createServer } from "node:net"
import { cpus, loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"

export const root = resolve(import.meta.dirname, "..", "..")

/**
 * Smoke mode (`--smoke` or `MIKO_BENCH_SMOKE=1`): the smallest sizes, a few seconds, nothing
 * written to the docs. `npm test` runs every benchmark this way so that none stops working unnoticed.
 */
export const smoke = process.argv.includes("--smoke") || process.env.MIKO_BENCH_SMOKE === "1"

/** The command-line arguments that are not `--flags`. */
export const positionalArgs = () => process.argv.slice(2).filter((arg) => !arg.startsWith("--"))

/**
 * Fails the run unless every figure is a finite number above 0: a benchmark that ran but
 * measured nothing must not pass its smoke run. Pass only figures that cannot be 0 when measured.
 */
export const checkFigures = (bench, figures) => {
  const bad = Object.entries(figures).filter(([, value]) => typeof value !== "number" || !Number.isFinite(value) || value <= 0)
  if (bad.length > 0) {
    console.error(`${bench}: figures missing or invalid: ${bad.map(([name, value]) => `${name}=${value}`).join(", ")}`)
    process.exit(1)
  }
  console.log(`${bench}: ${Object.keys(figures).length} figures measured${smoke ? " (smoke mode)" : ""}`)
}

/** A TCP port free on loopback right now, so that runs side by side never collide on a fixed port. */
export const freePort = () =>
  new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolvePort(port))
    })
  })

/** The environment without `MIKO_*` variables, so that the caller's settings never reach a Miko under test. */
export const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MIKO_")))

/** Kills `child` when this process exits, however it exits: a failed run must not leave servers behind. */
export const killOnExit = (child) => {
  const kill = () => child.kill("SIGKILL")
  process.once("exit", kill)
  child.once("exit", () => process.off("exit", kill))
}

/**
 * Starts `miko serve` from dist in a fresh directory; resolves once it listens. Given the `dir`
 * of a Miko stopped before, starts again there, on the same data.
 */
export const startMiko = async (configYaml, { dir = mkdtempSync(join(tmpdir(), "miko-bench-")) } = {}) => {
  writeFileSync(join(dir, "config.yaml"), configYaml)
  const child = spawn(join(root, "bin", "miko.js"), ["serve"], { cwd: dir, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })
  killOnExit(child)
  let output = ""
  const url = await new Promise((resolveUrl, reject) => {
    const onData = (chunk) => {
      output += chunk.toString()
      const match = /Listening on (http:\/\/[^\s]+)/.exec(output)
      if (match) resolveUrl(match[1])
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => reject(new Error(`miko exited with ${code}: ${output}`)))
  })
  return { url, dir, child, stop: () => new Promise((r) => { child.once("exit", r); child.kill("SIGTERM") }) }
}

export const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
}

/** Replaces (or appends) the section between `<!-- bench:name -->` markers in docs/benchmarks.md. */
export const writeSection = (name, markdown) => {
  const file = join(root, "docs", "benchmarks.md")
  const start = `<!-- bench:${name} -->`
  const end = `<!-- /bench:${name} -->`
  const block = `${start}\n${markdown.trim()}\n${end}`
  let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n\nEvery figure below comes from one run of the named script on the project's 2-core machine, the measured subject side by side with its baseline in the same run.\n"
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  text = from !== -1 && to !== -1 ? text.slice(0, from) + block + text.slice(to + end.length) : `${text.trimEnd()}\n\n${block}\n`
  writeFileSync(file, text)
}

/**
 * Registers the benchmarks' directory: by default 1,000 endpoints over 50 services. `firstService`
 * and `firstEndpoint` skip the services and endpoints a smaller directory already has, so that one
 * Miko can grow through several sizes.
 */
export const fillDirectory = async (url, token, { services = 50, perService = 20, firstService = 0, firstEndpoint = 0 } = {}) => {
  for (let s = firstService; s < services; s++) {
    await Promise.all(Array.from({ length: Math.max(0, perService - firstEndpoint) }, (_, k) => k + firstEndpoint).map((i) =>
      fetch(`${url}/v1/services/svc-${s}/endpoints`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          id: `svc-${s}-${i}`,
          publicAddress: `https://svc-${s}-${i}.example.com`,
          internalAddress: `http://10.0.${s}.${i}:8080`,
          zone: `zone-${i % 3}`,
          tags: ["bench"],
          weight: 1 + (i % 5)
        })
      }).then(async (response) => {
        // A refused registration would silently shrink the directory every figure depends on.
        if (!response.ok) throw new Error(`registering svc-${s}-${i}: ${response.status} ${await response.text()}`)
      })))
  }
}

/** Resident memory of a process in MiB, from /proc/<pid>/status (VmRSS). */
export const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024

/**
 * Makes sure this process may open `needed` files (sockets count): a thousand concurrent
 * connections need more than the common default soft limit of 1,024. When the soft limit is lower,
 * runs this same script again under `ulimit -n` (raising a soft limit up to the hard one needs no
 * privilege; Node cannot do it for itself) and exits with its status. Miko and the baseline,
 * started from the script, inherit the limit.
 */
export const ensureOpenFiles = async (needed) => {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
  if (!match || match[1] === "unlimited" || Number(match[1]) >= needed) return
  const hard = match[2] === "unlimited" ? Infinity : Number(match[2])
  if (hard < needed || process.env.MIKO_BENCH_NOFILE_RAISED === "1") {
    throw new Error(`this benchmark needs ${needed} open files; the limit is ${match[1]} (hard ${match[2]}): raise it (ulimit -n ${needed}) and run again`)
  }
  const child = spawn("sh", ["-c", `ulimit -n ${needed} && exec "$0" "$@"`, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: "inherit",
    env: { ...process.env, MIKO_BENCH_NOFILE_RAISED: "1" }
  })
  const code = await new Promise((resolve) => child.once("exit", (status, signal) => resolve(status ?? (signal ? 1 : 0))))
  process.exit(code)
}

/**
 * Starts the baseline server (bare-server.mjs) in a process of its own. `answer({status, headers, body})`
 * sets the bytes it sends to every request, `message(text)` the WebSocket message it broadcasts.
 */
export const startBare = async () => {
  const child = fork(join(root, "scripts", "bench", "bare-server.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] })
  killOnExit(child)
  const port = await new Promise((resolvePort, reject) => {
    child.once("message", (message) => resolvePort(message.port))
    child.once("exit", (code) => reject(new Error(`the bare server exited with ${code}`)))
  })
  let nextId = 0
  /** Sends one IPC command and waits for its acknowledgement, so the next request meets the new setting. */
  const command = (message) =>
    new Promise((resolveAck) => {
      const id = ++nextId
      const onMessage = (reply) => {
        if (reply.id !== id) return
        child.off("message", onMessage)
        resolveAck()
      }
      child.on("message", onMessage)
      child.send({ ...message, id })
    })
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    answer: ({ status, headers, body }) => command({ type: "answer", status, headers, body: Buffer.from(body).toString("base64") }),
    message: (text) => command({ type: "message", text }),
    stop: () => new Promise((r) => { child.once("exit", r); child.kill("SIGTERM") })
  }
}

/** The machine and its load, for the docs: every process of a run shares these cores. */
export const machine = () => {
  const cores = cpus()
  return { node: process.version, cpus: cores.length, model: cores[0]?.model.trim() ?? "unknown CPU", load: loadavg()[0] }
}

/** One sentence on the machine a run had, with the load average (1 min) at its start and end. */
export const machineNote = (start, end, sharedBy = "Miko, the baseline and the load generator") =>
  `Node ${start.node}, ${start.cpus} CPUs (${start.model}) shared by ${sharedBy}; ` +
  `load average ${start.load.toFixed(2)} at the start and ${end.load.toFixed(2)} at the end (other work on the machine stretches every figure, Miko's and the baseline's alike).`

/**
 * One request with node:http, answering the status, headers and the body's bytes as sent: `fetch`
 * would undo gzip, and the baseline must send exactly the bytes Miko sent.
 */
export const requestRaw = (url, { method = "GET", headers = {}, body } = {}) =>
  new Promise((resolveRequest, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks = []
      res.on("data", (chunk) => chunks.push(chunk))
      res.on("end", () => resolveRequest({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end(body)
  })

/** One GET, as `requestRaw`. */
export const getRaw = (url, headers = {}) => requestRaw(url, { headers })

/** Headers node:http adds to every answer by itself (or that frame the body): left out when replaying an answer. */
const connectionHeaders = new Set(["date", "connection", "keep-alive", "transfer-encoding"])

/** The headers of an answer `getRaw` captured, as a server replaying it sends them. */
export const replayHeaders = (headers) => Object.fromEntries(Object.entries(headers).filter(([name]) => !connectionHeaders.has(name)))

/**
 * `count` GET requests to `url`, all in flight at once over `agent` (blocking queries). `sent` settles
 * when every request has been written to its socket; `answers[i]` fills in (time, status, headers,
 * body) as each arrives.
 */
export const watchGroup = (agent, url, count) => {
  const answers = new Array(count)
  let answered = 0
  const sent = []
  const done = []
  for (let i = 0; i < count; i++) {
    done.push(new Promise((resolve) => {
      const finish = (answer) => {
        answers[i] = answer
        answered++
        resolve()
      }
      const req = request(url, { agent }, (res) => {
        const chunks = []
        res.on("data", (chunk) => chunks.push(chunk))
        res.on("end", () => finish({ at: performance.now(), status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      })
      req.on("error", (error) => finish({ at: performance.now(), error }))
      sent.push(new Promise((r) => req.on("finish", r)))
      req.end()
    }))
  }
  return { answers, answered: () => answered, sent: Promise.all(sent), done: Promise.all(done) }
}

/** Waits for every answer of a `watchGroup`, at most `ms`: a server that never answers must not hang the run. */
export const collectAnswers = async (group, ms) => {
  await Promise.race([group.done, new Promise((r) => setTimeout(r, ms))])
  return group.answers.filter((answer) => answer !== undefined)
}

/**
 * The PostgreSQL server's admin URL: `given`, else MIKO_TEST_POSTGRES_URL, else the private
 * server of scripts/postgres.sh (started when it is not running).
 */
export const postgresAdminUrl = (given) =>
  given ?? process.env.MIKO_TEST_POSTGRES_URL ??
    execFileSync("bash", [join(root, "scripts", "postgres.sh"), "start"], { encoding: "utf8" }).trim().split("\n").at(-1)

/**
 * A database of its own on the PostgreSQL server at `adminUrl`, so that runs never see each
 * other's data. Resolves to its URL and `drop()`, which removes it (closing what is still connected).
 */
export const createPostgresDatabase = async (adminUrl) => {
  const { default: pg } = await import("pg")
  const name = `miko_bench_${Date.now()}_${process.pid}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}`)
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: String(url),
    drop: async () => {
      await admin.query(`DROP DATABASE ${name} WITH (FORCE)`)
      await admin.end()
    }
  }
}
