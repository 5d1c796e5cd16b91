import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanup, type Miko, runMiko, startMiko, tempDir } from "../support/miko.js"
import { admin, billingReader, kvConfig } from "./support.js"

let miko: Miko
let dir: string
beforeAll(async () => {
  miko = await startMiko({ config: kvConfig() })
  dir = tempDir()
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
  cleanup(dir)
})

const cli = (args: ReadonlyArray<string>, token = admin) => runMiko(["kv", ...args, "--address", miko.url, "--token", token], { cwd: dir })

describe("miko kv", () => {
  it("put, get, history, rollback and delete, with exit codes that say what failed", async () => {
    const put = await cli(["put", "billing/db/pool-size", "10", "--comment", "initial"])
    expect(put.code).toBe(0)
    expect(put.stdout).toContain("wrote billing/db/pool-size version 1")
    expect((await cli(["put", "billing/db/pool-size", "{\"min\": 2}", "--if-version", "1"])).code).toBe(0)
    const stale = await cli(["put", "billing/db/pool-size", "3", "--if-version", "1"])
    expect(stale.code).toBe(6)
    expect(stale.stderr).toContain("kv_version_conflict")
    expect((await cli(["put", "billing/db/pool-size", "3", "--create"])).code).toBe(6)
    const get = await cli(["get", "billing/db/pool-size"])
    expect(JSON.parse(get.stdout)).toEqual({ min: 2 })
    expect(JSON.parse((await cli(["get", "billing/db/pool-size", "--json"])).stdout)).toMatchObject({ version: 2, updatedBy: "ops" })
    const history = await cli(["history", "billing/db/pool-size"])
    const lines = history.stdout.trim().split("\n")
    expect(lines[0]).toMatch(/^VERSION\s+WRITTEN\s+BY\s+VALUE\s+COMMENT$/)
    expect(lines[2]).toMatch(/^1\s+.*\s+ops\s+10\s+initial$/)
  }, 60_000)

  it("rollback and delete; a missing key or version is exit code 3", async () => {    const rolled = await cli(["rollback", "billing/db/pool-size", "1"])
    expect(rolled.stdout).toContain("version 3")
    expect(JSON.parse((await cli(["get", "billing/db/pool-size"])).stdout)).toBe(10)
    expect(JSON.parse((await cli(["history", "billing/db/pool-size", "--json", "--limit", "1"])).stdout)["versions"]).toHaveLength(1)
    expect((await cli(["delete", "billing/db/pool-size"])).code).toBe(0)
    expect((await cli(["get", "billing/db/pool-size"])).code).toBe(3)
    expect((await cli(["rollback", "billing/db/pool-size", "99"])).code).toBe(3)
  }, 60_000)

  it("a reader's write is denied (exit code 4), a bad key invalid (exit code 2)", async () => {
    await cli(["put", "billing/plan", "\"gold\""])
    expect(JSON.parse((await cli(["get", "billing/plan"], billingReader)).stdout)).toBe("gold")
    const denied = await cli(["put", "billing/plan", "silver"], billingReader)
    expect(denied.code).toBe(4)
    expect(denied.stderr).toContain("kv_forbidden")
    const invalid = await cli(["put", "billing/a b", "1"])
    expect(invalid.code).toBe(2)
  }, 60_000)
})
