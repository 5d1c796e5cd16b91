import { afterEach, describe, expect, it } from "vitest"
import type { ChildProcess } from "node:child_process"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { allPassing, indexOf, isProtecting, protection, sample, size, startFleet, statuses, ttlMillis } from "./fleet.js"
import { admin, eventually, sleep, tokens } from "./support.js"

// Mass-expiry protection, end to end: a fleet of 50 leased endpoints heartbeating from a child
// process of its own, so the fleet can be cut off from Miko (SIGSTOP) while Miko runs, and Miko
// can be stopped while the fleet goes on.

const running: Array<Miko> = []
const fleets: Array<ChildProcess> = []
const start = async (config: Record<string, unknown>, dir?: string) => {
  const miko = await startMiko({ config: { auth: { tokens }, ...config }, ...(dir === undefined ? {} : { dir }) })
  running.push(miko)
  return miko
}
afterEach(async () => {
  for (const child of fleets.splice(0)) child.kill("SIGKILL")
  for (const miko of running.splice(0)) {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  }
})

const occurrences = (text: string, part: string) => text.split(part).length - 1

describe("mass-expiry protection", () => {
  it("a restart alone changes no endpoint's status: leases count again from the start", async () => {
    const config = { registry: { deregisterCriticalAfter: "1s" } }
    const first = await start(config)
    const fleet = await startFleet(first, fleets)
    const before = await indexOf(first)
    expect(await first.stop()).toBe(0)
    // Three leases' worth of silence while Miko is down.
    await sleep(3_000)
    const second = await start(config, first.dir)
    fleet.follow(second)
    const seen = await sample(second, 4_000)
    expect(seen.length).toBeGreaterThan(10)
    expect(allPassing(seen)).toBe(true)
    // Not one change: nothing turned critical, even for a moment, and nothing was removed.
    expect(await indexOf(second)).toBe(before)
  })

  it("a fleet cut off from Miko is kept, and protection shown, until its heartbeats return", async () => {
    const miko = await start({ registry: { deregisterCriticalAfter: "1s" } })
    const fleet = await startFleet(miko, fleets)
    const before = await indexOf(miko)
    await eventually(async () => JSON.stringify(await protection(miko)) === JSON.stringify({ active: false, threshold: 0.5, leased: size, lapsing: 0 }))

    fleet.child.kill("SIGSTOP")
    const frozenAt = Date.now()
    const frozen = await sample(miko, 5_000)
    fleet.child.kill("SIGCONT")
    // Five ttls without a heartbeat, deregisterCriticalAfter passed over and over: all kept.
    expect(allPassing(frozen)).toBe(true)
    const settled = frozen.filter((s) => s.at - frozenAt > 1_500)
    expect(settled.length).toBeGreaterThan(5)
    for (const s of settled) expect(s.protection).toEqual({ active: true, threshold: 0.5, leased: size, lapsing: size })
    expect(await indexOf(miko)).toBe(before)

    await eventually(async () => !(await isProtecting(miko)), 10_000)
    // Leases count again from the end of protection: none lapses on the way out.
    expect(allPassing(await sample(miko, 1_500))).toBe(true)
    expect(await indexOf(miko)).toBe(before)
    await eventually(async () => JSON.stringify(await protection(miko)) === JSON.stringify({ active: false, threshold: 0.5, leased: size, lapsing: 0 }))
    // One warning on entering, one line on leaving: not one a sweep. (A machine busy enough to
    // hold the fleet's heartbeats back for 0.6 of a ttl may add a brief spell of its own.)
    const entered = occurrences(miko.output(), "registry protection on")
    expect(entered).toBeGreaterThanOrEqual(1)
    expect(entered).toBeLessThanOrEqual(2)
    expect(occurrences(miko.output(), "registry protection off")).toBe(entered)
  })

  it("one endpoint that stops while the others heartbeat still turns critical within its ttl", async () => {
    const miko = await start({ registry: { deregisterCriticalAfter: "1m" } })
    const fleet = await startFleet(miko, fleets)
    await fleet.stop("fleet-07")
    const stoppedAt = Date.now()
    await eventually(async () => (await statuses(miko)).get("fleet-07") === "critical", ttlMillis + 3_000)
    expect(Date.now() - stoppedAt).toBeLessThan(ttlMillis + 1_000)
    const after = await statuses(miko)
    expect([...after].filter(([, status]) => status !== "passing").map(([id]) => id)).toEqual(["fleet-07"])
    expect(await protection(miko)).toMatchObject({ active: false, leased: size })
  })

  it("registry.protection.threshold applies live: 0 turns protection off, and a cut-off fleet then lapses", async () => {
    const miko = await start({ registry: { deregisterCriticalAfter: "1m" } })
    const fleet = await startFleet(miko, fleets)
    fleet.child.kill("SIGSTOP")
    await eventually(() => isProtecting(miko), 3_000)
    const off = await api(`${miko.url}/v1/config/registry.protection.threshold`, { method: "PUT", token: admin, body: { value: 0 } })
    expect(off.status).toBe(200)
    // Leases count from the end of protection: one ttl later they lapse, all of them.
    await eventually(async () => [...(await statuses(miko)).values()].every((status) => status === "critical"), ttlMillis + 3_000)
    expect(await protection(miko)).toMatchObject({ active: false, threshold: 0 })
    expect(occurrences(miko.output(), "registry protection off")).toBeGreaterThanOrEqual(1)
    fleet.child.kill("SIGCONT")
    await eventually(async () => [...(await statuses(miko)).values()].every((status) => status === "passing"), 10_000)
  })

  it("the threshold is a share between 0 and 1", async () => {
    const miko = await start({})
    const invalid = await api(`${miko.url}/v1/config/registry.protection.threshold`, { method: "PUT", token: admin, body: { value: 1.5 } })
    expect(invalid.status).toBe(400)
  })
})
