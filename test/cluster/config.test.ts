import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { stringify } from "yaml"
import { describe, expect, it } from "vitest"
import { api, cleanup, runMiko, startMiko, tempDir } from "../support/miko.js"

/** Starts `miko serve` on a storage section that cannot work, and returns how it ended. */
const serveWith = async (storage: Record<string, unknown>, env: Record<string, string> = {}) => {
  const dir = tempDir()
  writeFileSync(join(dir, "config.yaml"), stringify({ http: { port: 0 }, storage }))
  const result = await runMiko(["serve"], { cwd: dir, env })
  cleanup(dir)
  return result
}

describe("storage.driver postgres, misconfigured", () => {
  it("without a URL: exit 2, naming both ways to give one", async () => {
    const { code, stderr } = await serveWith({ driver: "postgres" })
    expect(code).toBe(2)
    expect(stderr).toContain("set storage.postgres.url or storage.postgres.secretEnv")
  })

  it("with secretEnv naming an unset variable: exit 2, naming the variable", async () => {
    const { code, stderr } = await serveWith({ driver: "postgres", postgres: { secretEnv: "UNSET_DATABASE_URL_OF_THIS_TEST" } })
    expect(code).toBe(2)
    expect(stderr).toContain("UNSET_DATABASE_URL_OF_THIS_TEST is not set")
  })

  it("with an unreachable server: exit 1, naming where and why, never the password", async () => {
    const { code, stderr } = await serveWith({ driver: "postgres", postgres: { url: "postgres://miko:hunter2-secret@127.0.0.1:1/miko" } })
    expect(code).toBe(1)
    expect(stderr).toContain("cannot open PostgreSQL at 127.0.0.1:1/miko")
    expect(stderr).toContain("ECONNREFUSED")
    expect(stderr).not.toContain("hunter2")
  })

  it("with a driver that does not exist: exit 2, listing the drivers", async () => {
    const { code, stderr } = await serveWith({ driver: "mysql" })
    expect(code).toBe(2)
    expect(stderr).toContain("storage.driver")
    expect(stderr).toContain("\"postgres\"")
  })
})

describe("storage.driver sqlite", () => {
  it("is a cluster of one: this replica leads, alone", async () => {
    const miko = await startMiko({ config: { storage: { driver: "sqlite" } } })
    try {
      const { status, body } = await api(`${miko.url}/v1/cluster`, { token: miko.token() })
      expect(status).toBe(200)
      expect(body["leader"]).toBe(body["replica"])
      expect(body["replicas"]).toEqual([expect.objectContaining({ id: body["replica"], leader: true, silentFor: 0 })])
      expect((await api(`${miko.url}/v1/cluster`)).status).toBe(401)
    } finally {
      await miko.stop()
      cleanup(miko.dir)
    }
  })
})
