import { api, type Miko } from "../support/miko.js"

export const admin = "admin-token-0123456789"
export const internalReader = "internal-token-0123456789"
export const webRegistrar = "web-registrar-0123456789"
export const anyRegistrar = "any-registrar-0123456789"

/** Tokens for every role the registry distinguishes. */
export const tokens = [
  { name: "ops", secret: admin, roles: ["admin"] },
  { name: "mesh", secret: internalReader, roles: ["internal"] },
  { name: "web-deployer", secret: webRegistrar, roles: ["register"], services: ["web"] },
  { name: "deployer", secret: anyRegistrar, roles: ["register"] }
]

export const register = (miko: Miko, service: string, body: Record<string, unknown>, token = anyRegistrar) =>
  api(`${miko.url}/v1/services/${service}/endpoints`, { method: "POST", token, body })

export const list = (miko: Miko, query = "", token?: string) =>
  api(`${miko.url}/v1/endpoints${query}`, token === undefined ? {} : { token })

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls until `check` holds, for tests of background work driven by real short timers. */
export const eventually = async (check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error("condition not met in time")
}
