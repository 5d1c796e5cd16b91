// Time from launch to the first 200 on /readyz, and idle RSS, for the built binary; side by side with
// a bare node:http server that answers 200 (the floor for starting Node on this machine).
// Usage: npm run build && node scripts/bench/startup.mjs [runs] [--smoke]
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { checkFigures, cleanEnv, freePort, killOnExit, machine, machineNote, percentile, positionalArgs, root, smoke, writeSection } from "./lib.mjs"

// Smoke mode: one launch of each, memory read a moment after ready rather than 1 s.
const runs = smoke ? 1 : Number(positionalArgs()[0] ?? 10)
const idleMs = smoke ? 200 : 1000
const baseline = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')"

const measure = async ([command, ...args], port, cwd) => {
  const started = performance.now()
  const child = spawn(command, args, { cwd, env: { ...cleanEnv(), PORT: String(port) }, stdio: "ignore" })
  killOnExit(child)
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)))
  let exitCode
  void exited.then((code) => (exitCode = code ?? "a signal"))
  for (;;) {
    if (exitCode !== undefined) throw new Error(`${args.join(" ")} exited with ${exitCode} before it was ready`)
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`)
      if (response.status === 200) break
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  const ready = performance.now() - started
  await new Promise((r) => setTimeout(r, idleMs))
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))[1]) / 1024
  child.kill("SIGTERM")
  await exited
  return { ready, rss }
}

const startedOn = machine()
const results = { miko: [], bare: [] }
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "miko-start-"))
  // Ports free right now rather than fixed ones, so that other runs on the machine cannot collide with this one.
  const [mikoPort, barePort] = [await freePort(), await freePort()]
  writeFileSync(join(dir, "config.yaml"), `http: { port: ${mikoPort} }\n`)
  results.bare.push(await measure([process.execPath, "-e", baseline], barePort, dir))
  results.miko.push(await measure([join(root, "bin", "miko.js"), "serve"], mikoPort, dir))
  rmSync(dir, { recursive: true, force: true })
}
const endedOn = machine()
const row = (name, list) =>
  `| ${name} | ${percentile(list.map((r) => r.ready), 50).toFixed(0)} | ${Math.max(...list.map((r) => r.ready)).toFixed(0)} | ${percentile(list.map((r) => r.rss), 50).toFixed(0)} |`
const section = `## Start-up (\`scripts/bench/startup.mjs\`)

\`node scripts/bench/startup.mjs\` after \`npm run build\`. ${machineNote(startedOn, endedOn, "the process started and the prober polling it")}

Launch of \`miko serve\` (the built, bundled binary, fresh data dir each time) until the first \`200\` on \`/readyz\`,
and resident memory ${idleMs === 1000 ? "1 s" : `${idleMs} ms`} later while idle; ${runs} runs alternated with a bare \`node:http\` server started the same way.

| process | ready p50 ms | ready max ms | idle RSS MiB |
| --- | ---: | ---: | ---: |
${row("Miko", results.miko)}
${row("bare node:http", results.bare)}

Goals: under 1 s and under 120 MB. Ratio of median ready times Miko / bare: ${(percentile(results.miko.map((r) => r.ready), 50) / percentile(results.bare.map((r) => r.ready), 50)).toFixed(1)}.
`
console.log(section)
const median = (list, figure) => percentile(list.map(figure), 50)
checkFigures("startup", {
  "Miko ready p50": median(results.miko, (r) => r.ready), "bare ready p50": median(results.bare, (r) => r.ready),
  "Miko idle RSS": median(results.miko, (r) => r.rss), "bare idle RSS": median(results.bare, (r) => r.rss)
})
if (!smoke) writeSection("startup", section)
