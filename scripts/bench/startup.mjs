// Time from launch to the first 200 on /readyz, and idle RSS, for the built binary; side by side with
// a bare node:http server that answers 200 (the floor for starting Node on this machine).
// Usage: npm run build && node scripts/bench/startup.mjs [runs]
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { percentile, root, writeSection } from "./lib.mjs"

const runs = Number(process.argv[2] ?? 10)
const baseline = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')"

const measure = async (args, port, cwd) => {
  const started = performance.now()
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, PORT: String(port) }, stdio: "ignore" })
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`)
      if (response.status === 200) break
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 5))
  }
  const ready = performance.now() - started
  await new Promise((r) => setTimeout(r, 1000))
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))[1]) / 1024
  await new Promise((r) => {
    child.once("exit", r)
    child.kill("SIGTERM")
  })
  return { ready, rss }
}

const results = { miko: [], bare: [] }
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), "miko-start-"))
  writeFileSync(join(dir, "config.yaml"), "http: { port: 18740 }\n")
  results.bare.push(await measure(["-e", baseline], 18741, dir))
  results.miko.push(await measure([join(root, "bin", "miko.js"), "serve"], 18740, dir))
}
const row = (name, list) =>
  `| ${name} | ${percentile(list.map((r) => r.ready), 50).toFixed(0)} | ${Math.max(...list.map((r) => r.ready)).toFixed(0)} | ${percentile(list.map((r) => r.rss), 50).toFixed(0)} |`
const section = `## Start-up (\`scripts/bench/startup.mjs\`)

Launch of \`miko serve\` (the built, bundled binary, fresh data dir each time) until the first \`200\` on \`/readyz\`,
and resident memory 1 s later while idle; ${runs} runs alternated with a bare \`node:http\` server started the same way.

| process | ready p50 ms | ready max ms | idle RSS MiB |
| --- | ---: | ---: | ---: |
${row("Miko", results.miko)}
${row("bare node:http", results.bare)}

Goals: under 1 s and under 120 MB. Ratio of median ready times Miko / bare: ${(percentile(results.miko.map((r) => r.ready), 50) / percentile(results.bare.map((r) => r.ready), 50)).toFixed(1)}.
`
writeSection("startup", section)
console.log(section)
