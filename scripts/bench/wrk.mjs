// Throughput is measured with wrk, a native load generator: a load generator written in Node
// shares the event loop's costs with the server it measures and saturates first on two cores.
// Needs `wrk` on the PATH (Debian package `wrk`; `scripts/install-tools.sh wrk` installs it).
import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const unitsToMs = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A wrk duration such as `76.00us`, `1.02s` or `1.00m`, in milliseconds. */
export const parseWrkTime = (text) => {
  const match = /^([\d.]+)(us|ms|s|m|h)$/.exec(text)
  if (!match) throw new Error(`wrk: not a duration: ${text}`)
  return Number(match[1]) * unitsToMs[match[2]]
}

/**
 * Reads the figures out of wrk's `--latency` report: requests per second, the latency
 * percentiles (ms, keyed by percent), total requests and errors (socket errors and
 * status >= 400 together).
 */
export const parseWrkOutput = (output) => {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(output)
  const total = /^\s*(\d+) requests in /m.exec(output)
  if (!rps || !total) throw new Error(`wrk: no figures in its output:\n${output}`)
  const latency = {}
  // wrk pads a time in seconds to the width of the others ("1.03s "): spaces may end a line.
  const distribution = /Latency Distribution\n((?:\s+[\d.]+%\s+\S+[ \t]*\n)+)/.exec(output)
  for (const [, percent, time] of (distribution?.[1] ?? "").matchAll(/([\d.]+)%\s+(\S+)/g)) {
    latency[Number(percent)] = parseWrkTime(time)
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
  const status = /Non-2xx or 3xx responses: (\d+)/.exec(output)
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    latency,
    errors: socketErrors + (status ? Number(status[1]) : 0)
  }
}

/** A Lua script that sets request headers: wrk takes extra headers most portably this way. */
const headerScript = (headers) =>
  Object.entries(headers).map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(String(value))}`).join("\n") + "\n"

/**
 * Runs wrk against `url` and resolves to its parsed figures (see `parseWrkOutput`).
 * `duration` and `timeout` are in seconds; `headers` (e.g. Authorization, Accept-Encoding)
 * go into a temporary Lua script, followed by `script` (Lua of the caller's own, e.g. a `request`
 * function that varies the path or body of each request).
 */
export const runWrk = async ({ url, threads = 1, connections = 50, duration = 5, timeout = 10, headers = {}, script = "" }) => {
  const args = ["-t", String(threads), "-c", String(Math.max(connections, threads)), "-d", `${duration}s`, "--timeout", `${timeout}s`, "--latency"]
  const scriptDir = Object.keys(headers).length > 0 || script !== "" ? mkdtempSync(join(tmpdir(), "miko-wrk-")) : undefined
  if (scriptDir) {
    writeFileSync(join(scriptDir, "script.lua"), headerScript(headers) + script)
    args.push("-s", join(scriptDir, "script.lua"))
  }
  try {
    const output = await new Promise((resolve, reject) =>
      execFile("wrk", [...args, url], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
        if (error) reject(new Error(error.code === "ENOENT" ? "wrk is not installed: run scripts/install-tools.sh wrk (Debian package wrk)" : `wrk failed: ${stderr || error.message}`))
        else resolve(stdout)
      }))
    return parseWrkOutput(output)
  } finally {
    if (scriptDir) rmSync(scriptDir, { recursive: true, force: true })
  }
}
