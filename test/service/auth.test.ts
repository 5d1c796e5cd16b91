import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"

describe("bootstrap admin token (no token configured)", () => {
  let miko: Miko
  beforeAll(async () => {
    miko = await startMiko()
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  it("writes the token to <dataDir>/admin-token with mode 0600 and logs the path, not the token", () => {
    const file = join(miko.dir, "data", "admin-token")
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const token = miko.token()
    expect(token).toMatch(/^miko_[A-Za-z0-9_-]{40,}$/)
    expect(miko.output()).toContain("data/admin-token")
    expect(miko.output()).not.toContain(token)
  })

  it("stores only the token's hash", () => {
    const db = readFileSync(join(miko.dir, "data", "miko.db"))
    const wal = (() => {
      try {
        return readFileSync(join(miko.dir, "data", "miko.db-wal"))
      } catch {
        return Buffer.alloc(0)
      }
    })()
    const token = miko.token()
    expect(db.includes(token)).toBe(false)
    expect(wal.includes(token)).toBe(false)
  })

  it("the token is admin; no token is 401; a wrong token is 401", async () => {
    expect((await api(`${miko.url}/v1/config`, { token: miko.token() })).status).toBe(200)
    const none = await api(`${miko.url}/v1/config`)
    expect(none.status).toBe(401)
    expect(none.body["error"]["code"]).toBe("unauthorized")
    const wrong = await api(`${miko.url}/v1/config`, { token: "miko_not-the-token" })
    expect(wrong.status).toBe(401)
  })
})

describe("configured tokens and roles", () => {
  let miko: Miko
  const admin = "admin-secret-0123456789"
  const registrar = "register-secret-0123456789"
  beforeAll(async () => {
    miko = await startMiko({
      config: {
        auth: {
          tokens: [
            { name: "ops", secret: admin, roles: ["admin"] },
            { name: "registrar", secretEnv: "REGISTRAR_TOKEN", roles: ["register"], services: ["web"] }
          ]
        }
      },
      env: { REGISTRAR_TOKEN: registrar }
    })
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  it("no bootstrap token is created when tokens are configured", async () => {
    expect(() => miko.token()).toThrow()
    expect((await api(`${miko.url}/v1/config`, { token: admin })).status).toBe(200)
  })

  it("a token without the role is 403, with a message naming the role", async () => {
    const { status, body } = await api(`${miko.url}/v1/config`, { token: registrar })
    expect(status).toBe(403)
    expect(body["error"]["code"]).toBe("forbidden")
    expect(body["error"]["message"]).toContain("admin")
  })

  it("writes are checked the same way", async () => {
    const { status } = await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", token: registrar, body: { value: "debug" } })
    expect(status).toBe(403)
    const anonymous = await api(`${miko.url}/v1/config/general.logLevel`, { method: "PUT", body: { value: "debug" } })
    expect(anonymous.status).toBe(401)
  })

  it("tokens are never logged", () => {
    expect(miko.output()).not.toContain(admin)
    expect(miko.output()).not.toContain(registrar)
  })

  it("health and readiness need no token", async () => {
    expect((await api(`${miko.url}/readyz`)).status).toBe(200)
  })
})

describe("a route that needs a role answers 401 or 403 before it reads the request", () => {
  let miko: Miko
  const admin = "admin-secret-0123456789"
  const reader = "reader-secret-0123456789"
  beforeAll(async () => {
    miko = await startMiko({
      config: {
        auth: {
          tokens: [
            { name: "ops", secret: admin, roles: ["admin"] },
            { name: "reader", secret: reader, roles: ["internal"] }
          ]
        }
      }
    })
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  // Bodies that would fail to decode, so a 400 would show the body was read before the role was checked.
  const writes: ReadonlyArray<readonly [string, string, string, string]> = [
    ["POST", "/v1/tasks", "admin", "{}"],
    ["POST", "/v1/tasks", "admin", "{not json"],
    ["PUT", "/v1/config/general.logLevel", "admin", "{}"],
    ["POST", "/v1/config/reset", "admin", "{not json"],
    ["DELETE", "/v1/config/no.such.key", "admin", ""],
    ["POST", "/v1/tasks/x/run", "admin", ""],
    ["POST", "/v1/events/bad name!", "admin", ""],
    ["GET", "/v1/tasks/x/executions?limit=-4", "admin", ""],
    ["GET", "/v1/cluster", "admin", ""],
    ["POST", "/v1/services/web/endpoints", "register", "{}"],
    ["POST", "/v1/services/web/endpoints", "register", "{not json"],
    ["PUT", "/v1/services/web/endpoints/bad id!/heartbeat", "register", ""],
    ["DELETE", "/v1/services/bad service!/endpoints/x", "register", ""]
  ]

  it.each(writes)("%s %s: anonymous 401, a token without the %s role 403", async (method, path, role, body) => {
    const send = (token?: string) =>
      api(`${miko.url}${path.replaceAll(" ", "%20")}`, {
        method,
        ...(token === undefined ? {} : { token }),
        ...(body === "" ? {} : { body })
      })
    const anonymous = await send()
    expect(anonymous.status).toBe(401)
    expect(anonymous.body["error"]["message"]).toContain(`${role} role`)
    const other = await send(reader)
    expect(other.status).toBe(403)
    expect(other.body["error"]["message"]).toContain(`lacks the ${role} role`)
  })

  it("the admin gets the body's problems", async () => {
    const { status, body } = await api(`${miko.url}/v1/tasks`, { method: "POST", token: admin, body: {} })
    expect(status).toBe(400)
    expect(body["error"]["code"]).toBe("invalid_request")
  })
})
