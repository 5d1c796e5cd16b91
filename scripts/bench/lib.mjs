// Shared pieces of the benchmarks: start the built binary, the smoke mode, and write a section of docs/benchmarks.md.
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
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

/** Starts `miko serve` from dist in a fresh directory; resolves once it listens. */
export const startMiko = async (configYaml) => {
  const dir = mkdtempSync(join(tmpdir(), "miko-bench-"))
  writeFileSync(join(dir, "config.yaml"), configYaml)
  const child = spawn(process.execPath, [join(root, "bin", "miko.js"), "serve"], { cwd: dir, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })
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

/** Registers the benchmarks' directory: by default 1,000 endpoints over 50 services. */
export const fillDirectory = async (url, token, { services = 50, perService = 20 } = {}) => {
  for (let s = 0; s < services; s++) {
    await Promise.all(Array.from({ length: perService }, (_, i) =>
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
