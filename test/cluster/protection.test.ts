import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ChildProcess } from "node:child_process"
import { allPassing, type Fleet, indexOf, isProtecting, protection, sample, size, startFleet } from "../registry/fleet.js"
import { eventually } from "../registry/support.js"
import { cleanup, type Miko } from "../support/miko.js"
import { awaitLeader, leaseMillis, startReplicas } from "./support.js"

/**
 * Mass-expiry protection in a cluster of two: the fleet heartbeats through the replica that does
 * not lead, so the leader hears of the renewals only from the database; the leader decides, and
 * both replicas show its state.
 */

let replicas: Array<Miko> = []
const fleets: Array<ChildProcess> = []

beforeAll(async () => {
  // The follower reads the leader's protection state on its sync interval: short here.
  replicas = (await startReplicas(2, { cluster: { leaseTime: `${leaseMillis}ms`, syncInterval: "300ms" } })).replicas
}, 60_000)

afterAll(async () => {
  for (const child of fleets.splice(0)) child.kill("SIGKILL")
  await Promise.all(replicas.map((miko) => miko.stop("SIGKILL")))
  for (const miko of replicas) cleanup(miko.dir)
})

const idle = JSON.stringify({ active: false, threshold: 0.5, leased: size, lapsing: 0 })

describe("mass-expiry protection on two replicas", () => {
  let fleet: Fleet
  let leader: Miko
  let follower: Miko

  it("renewals taken by the other replica keep the leader's count at rest", async () => {
    leader = (await awaitLeader(replicas)).leader
    follower = replicas.find((miko) => miko !== leader)!
    fleet = await startFleet(follower, fleets)
    for (const miko of [leader, follower]) await eventually(async () => JSON.stringify(await protection(miko)) === idle)
    expect(allPassing(await sample(leader, 2_000))).toBe(true)
    expect(await protection(leader)).toMatchObject({ active: false, leased: size })
  })

  it("the leader protects a fleet cut off from the cluster, every replica shows it, and it ends when heartbeats return", async () => {
    const before = await indexOf(leader)
    fleet.child.kill("SIGSTOP")
    const protecting = JSON.stringify({ active: true, threshold: 0.5, leased: size, lapsing: size })
    await eventually(() => isProtecting(leader), 3_000)
    // The leader's state as it stands, counts included, a sync interval later on the follower.
    await eventually(async () => JSON.stringify(await protection(follower)) === protecting, 3_000)
    expect(allPassing(await sample(follower, 2_000))).toBe(true)
    fleet.child.kill("SIGCONT")
    await eventually(async () => !(await isProtecting(leader)), 5_000)
    await eventually(async () => !(await isProtecting(follower)), 5_000)
    expect(allPassing(await sample(leader, 1_500))).toBe(true)
    expect(await indexOf(leader)).toBe(before)
  })
})
