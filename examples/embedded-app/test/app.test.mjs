// The example's own test: start the built app as a process, use it as a client would, stop it with SIGTERM.
import { test } from "node:test"
import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join, dirname } from "node:path"
import { fileURLToPath } from "node:url"
import Database from "better-sqlite3"
// Miko's own dependency: the WebSocket client the check below talks to the mounted `/v1/ws` with.
import WebSocket from "ws"

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..")

const freePort = () => new Promise((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const { port } = server.address()
    server.close(() => resolve(port))
  })
})

test("the embedded app serves its route and Miko's endpoint list, runs its tasks, and shuts down cleanly", async () => {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), "embedded-app-"))
  const child = spawn(process.execPath, [join(appDir, "dist", "main.js")], {
    cwd: dataDir,
    env: { ...process.env, PORT: String(port), APP_DATA_DIR: dataDir, APP_MIKO_TOKEN: "embedded-app-token-0123456789", REPORT_CRON: "* * * * * *" },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.on("data", (chunk) => (output += chunk))
  child.stderr.on("data", (chunk) => (output += chunk))
  const exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 15_000
  while (!/Listening on/.test(output)) {
    assert.ok(Date.now() < deadline, `app did not start:\n${output}`)
    await new Promise((r) => setTimeout(r, 50))
  }

  assert.equal(await (await fetch(`${url}/hello`)).text(), "hello from the embedded app")
  const list = await (await fetch(`${url}/miko/v1/endpoints`)).json()
  assert.equal(list.services["embedded-app"][0].id, "embedded-app-1")

  // Miko's WebSocket endpoint works mounted in the app too: a hello, then a command's answer.
  const socket = new WebSocket(`ws://127.0.0.1:${port}/miko/v1/ws`, { headers: { authorization: "Bearer embedded-app-token-0123456789" } })
  const messages = []
  const received = (count) => new Promise((resolve, reject) => {
    socket.on("message", (data) => { messages.push(JSON.parse(data.toString())); if (messages.length === count) resolve() })
    socket.once("error", reject)
  })
  const hello = received(2)
  socket.once("open", () => socket.send(JSON.stringify({ type: "command", id: 1, command: "endpoints.list", args: {} })))
  await hello
  assert.equal(messages[0].type, "hello")
  assert.equal(messages[1].ok, true, JSON.stringify(messages[1]))
  socket.close()

  while (!/report #2/.test(output)) {
    assert.ok(Date.now() < deadline, `no cron runs:\n${output}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  const fired = await (await fetch(`${url}/reindex`, { method: "POST" })).json()
  assert.ok(JSON.stringify(fired).includes("reindex"), JSON.stringify(fired))
  await new Promise((r) => setTimeout(r, 200))

  child.kill("SIGTERM")
  assert.equal(await exited, 0, output)

  const db = new Database(join(dataDir, "miko.db"), { readonly: true })
  const endpoints = db.prepare("SELECT id FROM endpoints").all()
  assert.deepEqual(endpoints, [], "its endpoint is removed at shutdown")
  const runs = db.prepare("SELECT status FROM scheduler_executions WHERE task_id = 'reindex'").all()
  assert.ok(runs.length >= 1, "the event-triggered task ran")
  for (const run of runs) assert.ok(["succeeded", "interrupted"].includes(run.status), run.status)
  db.close()
})
