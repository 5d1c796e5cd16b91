// Shared pieces of the benchmarks: start the built binary, and write a section of docs/benchmarks.md.
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"

export const root = resolve(import.meta.dirname, "..", "..")

/** Starts `miko serve` from dist in a fresh directory; resolves once it listens. */
export const startMiko = async (configYaml) => {
  const dir = mkdtempSync(join(tmpdir(), "miko-bench-"))
  writeFileSync(join(dir, "config.yaml"), configYaml)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MIKO_")))
  const child = spawn(process.execPath, [join(root, "bin", "miko.js"), "serve"], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })
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

/** Registers the benchmarks' directory: 1,000 endpoints over 50 services. */
export const fillDirectory = async (url, token) => {
  for (let s = 0; s < 50; s++) {
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
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
      })))
  }
}
