import * as Duration from "effect/Duration"
import { describe, expect, it } from "vitest"
import { makeLeaseTable } from "../../src/registry/lease-table.js"
import { countLeases } from "../../src/registry/protection.js"
import type { EndpointRecord } from "../../src/registry/record.js"
import { leaseOf, sweepableOf, sweepCandidates } from "../../src/registry/sweep.js"

// The lease table looks only at the leases that are due (src/registry/lease-table.ts): whatever it
// skips, it must answer what a pass over every endpoint answers. Times in ms.

/** A small deterministic generator, so that a failure repeats. */
const generator = (seed: number) => () => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
  return seed / 2_147_483_648
}

const record = (id: string, at: number, options: {
  readonly ttl: number | undefined
  readonly critical?: number | undefined
  readonly lapsed?: boolean
  readonly connection?: string | undefined
}): EndpointRecord => ({
  service: "s",
  registration: {
    id,
    publicAddress: "http://127.0.0.1:1",
    protocol: "http",
    weight: 1,
    tags: [],
    metadata: {},
    ...(options.ttl === undefined ? {} : { ttl: Duration.millis(options.ttl) })
  },
  source: "registered",
  registeredAt: at,
  lastSeenAt: at,
  leaseStatus: options.lapsed === true ? "critical" : "passing",
  checkStatus: undefined,
  criticalSince: options.critical,
  connection: options.connection
})

describe("the lease table", () => {
  it("counts, finds quiet leases and sweep candidates as a pass over every endpoint would, through renewals and changes", () => {
    const random = generator(7)
    const table = makeLeaseTable("me")
    const records = new Map<string, EndpointRecord>()
    /** The newest heartbeat of each endpoint, as the table should hold it. */
    const heard = new Map<string, number>()
    let at = 1_000_000
    const change = (id: string) => {
      const roll = random()
      if (roll < 0.1) {
        records.delete(id)
        heard.delete(id)
        table.follow(id, undefined)
        return
      }
      const ttl = roll < 0.2 ? undefined : [1_000, 5_000, 30_000][Math.floor(random() * 3)]!
      const next = record(id, at - Math.floor(random() * 40_000), {
        ttl,
        lapsed: roll > 0.9,
        critical: roll > 0.85 ? at - Math.floor(random() * 60_000) : undefined,
        connection: roll > 0.8 ? (random() < 0.5 ? "me/c1" : "other/c2") : undefined
      })
      // The table keeps heartbeats only while it holds a lease for the endpoint.
      const previous = records.get(id)
      if (previous === undefined || leaseOf(previous) === undefined) heard.delete(id)
      records.set(id, next)
      heard.set(id, Math.max(heard.get(id) ?? 0, next.lastSeenAt))
      table.follow(id, next)
    }
    for (let n = 0; n < 400; n++) change(`e-${n}`)
    for (let step = 0; step < 300; step++) {
      at += Math.floor(random() * 400)
      for (let k = 0; k < 20; k++) {
        const id = `e-${Math.floor(random() * 450)}`
        if (random() < 0.2) change(id)
        else if (records.has(id) && leaseOf(records.get(id)!) !== undefined) {
          table.renew(id, at)
          heard.set(id, Math.max(heard.get(id) ?? 0, at))
        }
      }
      // Every endpoint as the table should see it: its record with the newest heartbeat.
      const all = Array.from(records, ([id, r]) => {
        const item = sweepableOf(r)
        const lease = item?.lease === undefined ? undefined : { ...item.lease, lastSeenAt: heard.get(id)! }
        return [id, item === undefined ? undefined : { ...item, lease }] as const
      }).flatMap(([id, item]) => (item === undefined ? [] : [[id, item] as const]))
      const countingFrom = at - [0, 3_000, 100_000][step % 3]!
      const leases = all.flatMap(([, item]) => (item.lease === undefined ? [] : [item.lease]))
      expect(table.counts(at, countingFrom)).toEqual(countLeases(leases, at, countingFrom))
      const rules = { countingFrom, expire: step % 5 !== 0, removeAfter: 20_000, replicaId: "me" }
      const expected = sweepCandidates(all, at, rules)
      const found = table.candidates(at, rules)
      for (const key of ["leases", "removals", "owned"] as const) expect([key, ...[...found[key]].sort()]).toEqual([key, ...[...expected[key]].sort()])
      const quiet = all.filter(([, { lease }]) => lease !== undefined && lease.lapsedAt === undefined && at - lease.lastSeenAt > lease.ttl * 0.6)
      expect(table.quiet(at).sort()).toEqual(quiet.map(([id]) => id).sort())
    }
  })
})
