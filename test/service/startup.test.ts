import { afterEach, describe, expect, it } from "vitest"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { cleanup, runMiko, startMiko, tempDir } from "../support/miko.js"

const dirs: Array<string> = []
afterEach(() => dirs.splice(0).forEach(cleanup))

/** Writes `config` as config.yaml (or the named file) and runs `miko serve`, which must refuse to start. */
const refuse = async (config: string, options: { file?: string; env?: Record<string, string>; args?: Array<string> } = {}) => {
  const dir = tempDir()
  dirs.push(dir)
  const file = options.file ?? "config.yaml"
  writeFileSync(join(dir, file), config)
  const result = await runMiko(["serve", ...(options.args ?? [])], { cwd: dir, ...(options.env ? { env: options.env } : {}) })
  return { ...result, dir }
}

describe("bad configuration never starts a half-configured service", () => {
  it("a wrong type: exit 2 naming file, key, expected and found", async () => {
    const { code, stderr, dir } = await refuse("http:\n  port: eighty\n")
    expect(code).toBe(2)
    expect(stderr).toContain(join(dir, "config.yaml"))
    expect(stderr).toContain("http.port")
    expect(stderr).toMatch(/Expected .*"eighty"/)
  })

  it("an unknown key: exit 2 with the nearest valid key", async () => {
    const { code, stderr } = await refuse("scheduler:\n  maxRunningTask: 4\n")
    expect(code).toBe(2)
    expect(stderr).toContain("did you mean \"scheduler.maxRunningTasks\"")
  })

  it("invalid YAML: exit 2 with the line", async () => {
    const { code, stderr } = await refuse("http:\n  port: [1,\n")
    expect(code).toBe(2)
    expect(stderr).toMatch(/invalid YAML at line \d+/)
  })

  it("invalid JSON in a .json file named by --config: exit 2", async () => {
    const { code, stderr } = await refuse("{ \"http\": { \"port\": 1 }, }", { file: "miko.json", args: ["--config", "miko.json"] })
    expect(code).toBe(2)
    expect(stderr).toContain("invalid JSON")
  })

  it("a bad environment variable: exit 2 naming it", async () => {
    const { code, stderr } = await refuse("", { env: { MIKO_HTTP__PORT: "abc" } })
    expect(code).toBe(2)
    expect(stderr).toContain("MIKO_HTTP__PORT")
  })

  it("an unknown MIKO_ variable: exit 2 with a suggestion", async () => {
    const { code, stderr } = await refuse("", { env: { MIKO_SCHEDULER__MAX_RUNNING: "3" } })
    expect(code).toBe(2)
    expect(stderr).toContain("did you mean \"MIKO_SCHEDULER__MAX_RUNNING_TASKS\"")
  })

  it("--config naming a missing file: exit 2", async () => {
    const { code, stderr } = await refuse("", { args: ["--config", "nope.yaml"] })
    expect(code).not.toBe(0)
    expect(stderr).toContain("nope.yaml")
  })

  it("a token whose secretEnv is not set: exit 2", async () => {
    const { code, stderr } = await refuse("auth:\n  tokens:\n    - name: ops\n      secretEnv: OPS_TOKEN\n      roles: [admin]\n")
    expect(code).toBe(2)
    expect(stderr).toContain("OPS_TOKEN")
  })

  it("a data dir that cannot be created: a clear error, no crash", async () => {
    const dir = tempDir()
    dirs.push(dir)
    writeFileSync(join(dir, "blocker"), "a file, not a directory")
    mkdirSync(join(dir, "x"))
    writeFileSync(join(dir, "config.yaml"), "general:\n  dataDir: ./blocker/data\nhttp:\n  port: 0\n")
    const { code, stderr } = await runMiko(["serve"], { cwd: dir })
    expect(code).toBe(1)
    expect(stderr).toContain("data dir")
  })
})

describe("version", () => {
  it("prints the package version", async () => {
    const dir = tempDir()
    dirs.push(dir)
    const { code, stdout } = await runMiko(["version"], { cwd: dir })
    expect(code).toBe(0)
    expect(stdout.trim()).toBe("0.1.0")
  })
})

describe("the binary run as a program", () => {
  const processOf = (pid: number) => ({
    command: readFileSync(`/proc/${pid}/comm`, "utf8").trim(),
    env: readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")
  })

  it("is Node itself, in the process started, with malloc handing freed memory back", async () => {
    const miko = await startMiko()
    dirs.push(miko.dir)
    const { command, env } = processOf(miko.child.pid!)
    expect(command).toBe("node")
    expect(env).toContain("MALLOC_TRIM_THRESHOLD_=131072")
    // Signals reach the service itself: a SIGTERM is its graceful shutdown.
    expect(await miko.stop("SIGTERM")).toBe(0)
  })

  it("keeps a malloc setting given to it", async () => {
    const miko = await startMiko({ env: { MALLOC_TRIM_THRESHOLD_: "262144" } })
    dirs.push(miko.dir)
    expect(processOf(miko.child.pid!).env).toContain("MALLOC_TRIM_THRESHOLD_=262144")
    await miko.stop()
  })
})
