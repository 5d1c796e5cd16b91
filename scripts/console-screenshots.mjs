// Screenshots of every page of the web console, for docs/console.md and the README:
// starts a Miko of its own on a small demo fleet, opens each page in the Debian Chromium
// (MIKO_CHROMIUM names another) at 1280 px, and the services page again at 360 px.
//
//   npm run build && node scripts/console-screenshots.mjs
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { chromium } from "playwright-core"

const root = resolve(import.meta.dirname, "..")
const out = join(root, "docs", "console")
const dir = mkdtempSync(join(tmpdir(), "miko-screens-"))
writeFileSync(join(dir, "config.yaml"), "http:\n  port: 0\n")

const child = spawn(join(root, "bin", "miko.js"), ["serve"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })
const url = await new Promise((resolveUrl, reject) => {
  let output = ""
  const read = (chunk) => {
    output += chunk
    const match = /Listening on (http:\/\/[^\s]+)/.exec(output)
    if (match) resolveUrl(match[1].replace("0.0.0.0", "127.0.0.1"))
  }
  child.stdout.on("data", read)
  child.stderr.on("data", read)
  child.once("exit", (code) => reject(new Error(`miko exited with ${code}:\n${output}`)))
})
const token = readFileSync(join(dir, "data", "admin-token"), "utf8").trim()

const call = async (method, path, body) => {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`)
  return response.status === 204 ? undefined : response.json()
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// The fleet: a few services across two zones; one endpoint lets its lease lapse.
const endpoints = [
  ["billing", { id: "billing-1", publicAddress: "https://billing-1.example.com", internalAddress: "http://10.0.1.11:8080", zone: "eu-west", tags: ["payments", "v2"], weight: 10 }],
  ["billing", { id: "billing-2", publicAddress: "https://billing-2.example.com", internalAddress: "http://10.0.2.12:8080", zone: "eu-central", tags: ["payments", "v2"], weight: 10 }],
  ["billing", { id: "billing-3", publicAddress: "https://billing-3.example.com", internalAddress: "http://10.0.2.13:8080", zone: "eu-central", tags: ["payments", "v1"], ttl: "1s" }],
  ["search", { id: "search-1", publicAddress: "https://search.example.com", internalAddress: "http://10.0.1.21:9200", zone: "eu-west", tags: ["elastic"] }],
  ["ledger", { id: "ledger-1", internalAddress: "http://10.0.1.31:7000", zone: "eu-west", tags: ["postgres"] }],
  ["notifications", { id: "notify-1", publicAddress: "https://notify.example.com", zone: "eu-central", tags: ["push"], weight: 5 }]
]
for (const [service, body] of endpoints) await call("POST", `/v1/services/${service}/endpoints`, body)
await call("POST", "/v1/tasks", { name: "nightly-report", kind: "http", http: { method: "GET", url: `${url}/healthz` }, triggers: [{ every: "1h" }], priority: 10 })
const warmup = await call("POST", "/v1/tasks", { name: "cache-warmup", kind: "http", http: { method: "GET", url: "http://127.0.0.1:9/warm" }, triggers: [{ every: "30m" }], retry: { maxRetries: 2, delay: "200ms" } })
const tasks = await call("GET", "/v1/tasks")
for (const task of tasks) await call("POST", `/v1/tasks/${task.id}/run`)
await call("PUT", "/v1/config/scheduler.maxRunningTasks", { value: 8 })
await sleep(2_500)

mkdirSync(out, { recursive: true })
const browser = await chromium.launch({ executablePath: process.env.MIKO_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] })
const shoot = async (width, path, file, signedIn, prepare = async () => {}) => {
  const page = await browser.newPage({ viewport: { width, height: 800 }, deviceScaleFactor: 1 })
  await page.goto(`${url}/ui/`)
  if (signedIn) {
    await page.getByLabel("Access token").fill(token)
    await page.getByRole("button", { name: "Use token" }).click()
    await page.getByText(/Signed in/).waitFor()
  }
  await page.locator("[data-link=live]").waitFor()
  if (path !== "/ui/") {
    await page.evaluate((to) => { history.pushState(null, "", to); dispatchEvent(new PopStateEvent("popstate")) }, path)
  }
  // Pages read the API once shown (the anonymous page keeps a blocking query open, so no network idle).
  await page.locator("main h1").waitFor()
  await prepare(page)
  await sleep(600)
  await page.screenshot({ path: join(out, file), fullPage: true })
  await page.close()
  console.log(`docs/console/${file}`)
}
try {
  await shoot(1280, "/ui/", "services.png", true)
  await shoot(1280, "/ui/services/billing", "service.png", true)
  await shoot(1280, "/ui/tasks", "tasks.png", true)
  await shoot(1280, `/ui/tasks/${warmup.id}`, "task.png", true)
  await shoot(1280, "/ui/config", "config.png", true, (page) => page.getByLabel("Key", { exact: true }).fill("scheduler."))
  await shoot(1280, "/ui/cluster", "cluster.png", true)
  await shoot(360, "/ui/services/billing", "service-360.png", false)
} finally {
  await browser.close()
  child.kill("SIGTERM")
  await new Promise((r) => child.once("exit", r))
  rmSync(dir, { recursive: true, force: true })
}
