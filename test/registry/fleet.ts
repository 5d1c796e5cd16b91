import { type ChildProcess, fork } from "node:child_process"
import { join } from "node:path"
import { api, type Json, type Miko } from "../support/miko.js"
import { admin, anyRegistrar, list, sleep } from "./support.js"

/**
 * A fleet of leased endpoints for the mass-expiry protection tests: 50 endpoints of service
 * `fleet` with a 1s lease, registered and heartbeated by a child process of their own
 * (heartbeater.mjs), so that a test can cut the whole fleet off from Miko with SIGSTOP.
 */

export const size = 50
export const ttlMillis = 1_000
export const ids = Array.from({ length: size }, (_, n) => `fleet-${String(n).padStart(2, "0")}`)
const script = join(import.meta.dirname, "heartbeater.mjs")

export interface Fleet {
  readonly child: ChildProcess
  /** Points the heartbeats at a Miko (a restarted one, another replica). */
  readonly follow: (miko: Miko) => void
  /** Resolves once `n` more rounds were all answered 2xx. */
  readonly rounds: (n: number) => Promise<void>
  /** Ends one endpoint's heartbeats; resolves once none of them is in flight. */
  readonly stop: (id: string) => Promise<void>
}

/**
 * Starts the fleet against `miko`: it registers itself, then heartbeats in rounds 50ms apart, the
 * endpoints in a fixed order, so each is heard every few hundred milliseconds, well within 0.6 of
 * its ttl, on a busy machine too. `owned` gets the child, for the test to kill.
 */
export const startFleet = async (miko: Miko, owned: Array<ChildProcess>): Promise<Fleet> => {
  const child = fork(script, [anyRegistrar, "50", "fleet", `${ttlMillis}ms`, ...ids], { stdio: ["ignore", "ignore", "inherit", "ipc"] })
  owned.push(child)
  const next = <A>(pick: (message: Record<string, unknown>) => A | undefined) =>
    new Promise<A>((resolve) => {
      const listen = (message: Record<string, unknown>) => {
        const found = pick(message)
        if (found === undefined) return
        child.off("message", listen)
        resolve(found)
      }
      child.on("message", listen)
    })
  const fleet: Fleet = {
    child,
    follow: (target) => child.send({ url: target.url }),
    rounds: async (n) => {
      for (let done = 0; done < n;) if (await next((m) => (typeof m["round"] === "boolean" ? m["round"] : undefined))) done++
    },
    stop: async (id) => {
      const stopped = next((m) => (m["stopped"] === id ? true : undefined))
      child.send({ stop: id })
      await stopped
    }
  }
  fleet.follow(miko)
  await fleet.rounds(4)
  return fleet
}

/** The fleet's statuses as a reader of `miko` sees them. */
export const statuses = async (miko: Miko) => {
  const { body } = await list(miko, "?service=fleet", admin)
  return new Map<string, string>((body["services"]["fleet"] ?? []).map((e: Json) => [String(e["id"]), String(e["status"])]))
}

/** `protection` of `GET /v1/services`. */
export const protection = async (miko: Miko) => (await api(`${miko.url}/v1/services`, { token: admin })).body["protection"]

export const isProtecting = async (miko: Miko) => (await protection(miko))["active"] as unknown as boolean

export const indexOf = async (miko: Miko) => (await list(miko)).body["index"] as unknown as number

/** Statuses and protection as read from `miko` every 100ms for `ms` (`at`: when, by the test's clock). */
export const sample = async (miko: Miko, ms: number) => {
  const seen: Array<{ readonly at: number; readonly statuses: Map<string, string>; readonly protection: Json }> = []
  const until = Date.now() + ms
  while (Date.now() < until) {
    seen.push({ at: Date.now(), statuses: await statuses(miko), protection: await protection(miko) })
    await sleep(100)
  }
  return seen
}

/** Every sample lists the whole fleet, all passing. */
export const allPassing = (seen: ReadonlyArray<{ readonly statuses: Map<string, string> }>) =>
  seen.every((s) => s.statuses.size === size && [...s.statuses.values()].every((status) => status === "passing"))
