import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanup, type Miko, runMiko, startMiko, tempDir } from "../support/miko.js"

describe("miko config, against a running service", () => {
  let miko: Miko
  beforeAll(async () => {
    miko = await startMiko()
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  // Run from the service's own directory: the CLI finds the address in config.yaml? No: the
  // port is 0 there, so the address is given, and the token comes from the local data dir.
  const cli = (...args: Array<string>) => runMiko(["config", ...args, "--address", miko.url], { cwd: miko.dir })

  it("get prints the whole configuration, using the bootstrap token from the data dir", async () => {
    const { code, stdout } = await cli("get")
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toMatchObject({ config: { http: { host: "127.0.0.1" } } })
  })

  it("set, get KEY and reset KEY", async () => {
    const set = await cli("set", "scheduler.maxRunningTasks", "3")
    expect(set.code).toBe(0)
    expect(set.stdout).toContain("scheduler.maxRunningTasks = 3 (applied live)")
    expect((await cli("get", "scheduler.maxRunningTasks")).stdout.trim()).toBe("3")
    const restart = await cli("set", "http.port", "9001")
    expect(restart.stdout).toContain("takes effect after a restart")
    const reset = await cli("reset", "scheduler.maxRunningTasks")
    expect(reset.stdout).toContain("scheduler.maxRunningTasks = 8 (from default)")
    const all = await cli("reset")
    expect(all.code).toBe(0)
    expect((await cli("get", "http.port")).stdout.trim()).toBe("0")
  })

  it("plain strings need no JSON quoting", async () => {
    expect((await cli("set", "general.logLevel", "debug")).code).toBe(0)
    expect((await cli("get", "general.logLevel")).stdout.trim()).toBe("\"debug\"")
    await cli("reset", "general.logLevel")
  })

  it("an unknown key names the doc and a suggestion; exit code 3, not found", async () => {
    const { code, stderr } = await cli("get", "scheduler.maxRunning")
    expect(code).toBe(3)
    expect(stderr).toContain("did you mean \"scheduler.maxRunningTasks\"")
    expect(stderr).toContain("docs/configuration.md")
  })

  it("an invalid value is refused with the server's message; exit code 2, invalid input", async () => {
    const { code, stderr } = await cli("set", "scheduler.maxRunningTasks", "lots")
    expect(code).toBe(2)
    expect(stderr).toContain("400 config_value_invalid")
  })

  it("a wrong token is a clear 401; exit code 4", async () => {
    const { code, stderr } = await runMiko(["config", "get", "--address", miko.url, "--token", "nope"], { cwd: miko.dir })
    expect(code).toBe(4)
    expect(stderr).toContain("401")
  })

  it("MIKO_ADDRESS and MIKO_TOKEN are read from the environment", async () => {
    const elsewhere = tempDir()
    const { code } = await runMiko(["config", "get", "general.logLevel"], {
      cwd: elsewhere,
      env: { MIKO_ADDRESS: miko.url, MIKO_TOKEN: miko.token() }
    })
    cleanup(elsewhere)
    expect(code).toBe(0)
  })
})

describe("miko config, with nothing running", () => {
  it("says Miko is not reachable and how to point elsewhere; exit code 5", async () => {
    const dir = tempDir()
    const { code, stderr } = await runMiko(["config", "get", "--address", "http://127.0.0.1:9"], { cwd: dir })
    cleanup(dir)
    expect(code).toBe(5)
    expect(stderr).toContain("cannot reach Miko at http://127.0.0.1:9")
    expect(stderr).toContain("MIKO_ADDRESS")
  })

  it("an unknown command prints usage and exits 2", async () => {
    const dir = tempDir()
    const { code, stdout, stderr } = await runMiko(["bogus"], { cwd: dir })
    cleanup(dir)
    expect(code).toBe(2)
    expect(stdout + stderr).toContain("serve")
    expect(stdout + stderr).not.toContain("[object Object]")
  })
})
