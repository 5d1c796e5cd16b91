import { describe, expect, it } from "vitest"
import { countLeases, heardAt, type Lease, minimumLapsing, overdue, protects, transition } from "../../src/registry/protection.js"

// The decision of mass-expiry protection, alone (src/registry/protection.ts). Times in ms.

const ttl = 1_000
const now = 100_000
/** A lease last heard `silentFor` ago; `lapsedFor`: it turned critical that long ago. */
const lease = (silentFor: number, lapsedFor?: number): Lease => ({
  ttl,
  lastSeenAt: now - silentFor,
  lapsedAt: lapsedFor === undefined ? undefined : now - lapsedFor
})
const fleet = (n: number, silentFor: number) => Array.from({ length: n }, () => lease(silentFor))

describe("counting leases", () => {
  it("a lease silent for over 0.6 of its ttl is lapsing; one heard more recently is live", () => {
    expect(countLeases([lease(100), lease(599), lease(601), lease(2_000)], now, 0)).toEqual({ leased: 4, lapsing: 2 })
  })

  it("a lease that lapsed within the last ttl is lapsing; one that lapsed earlier is out of the count", () => {
    expect(countLeases([lease(1_500, 500), lease(5_000, 1_001), lease(100)], now, 0)).toEqual({ leased: 2, lapsing: 1 })
  })

  it("silence before counting began is not held against a lease: a restart, a takeover, the end of protection", () => {
    const countingFrom = now - 200
    expect(heardAt(lease(5_000), countingFrom)).toBe(countingFrom)
    expect(countLeases(fleet(10, 60_000), now, countingFrom)).toEqual({ leased: 10, lapsing: 0 })
    expect(overdue(lease(60_000), now, countingFrom)).toBe(false)
    expect(overdue(lease(60_000), now + ttl, countingFrom)).toBe(true)
  })

  it("a lapsed lease is not overdue again", () => {
    expect(overdue(lease(5_000, 100), now, 0)).toBe(false)
    expect(overdue(lease(1_001), now, 0)).toBe(true)
    expect(overdue(lease(1_000), now, 0)).toBe(false)
  })
})

describe("the decision", () => {
  it("protects when more than the threshold of the leases are lapsing", () => {
    expect(protects({ leased: 50, lapsing: 26 }, 0.5)).toBe(true)
    expect(protects({ leased: 50, lapsing: 25 }, 0.5)).toBe(false)
    expect(protects({ leased: 50, lapsing: 16 }, 0.3)).toBe(true)
    expect(protects({ leased: 50, lapsing: 50 }, 1)).toBe(false)
  })

  it("threshold 0 turns protection off", () => {
    expect(protects({ leased: 50, lapsing: 50 }, 0)).toBe(false)
  })

  it("one endpoint going quiet is never Miko's fault, whatever the fleet's size", () => {
    expect(minimumLapsing).toBe(2)
    expect(protects({ leased: 1, lapsing: 1 }, 0.5)).toBe(false)
    expect(protects({ leased: 2, lapsing: 2 }, 0.5)).toBe(true)
    expect(protects({ leased: 0, lapsing: 0 }, 0.5)).toBe(false)
  })

  it("a fleet cut off together is protected before the first of its leases runs out", () => {
    // Heartbeats every ttl/3, the last ones spread over that third; then silence.
    const cut = Array.from({ length: 30 }, (_, n) => n * 11)
    const first = ttl - Math.max(...cut)
    const at = now + first
    const leases = cut.map((age) => ({ ttl, lastSeenAt: now - age, lapsedAt: undefined }))
    expect(leases.filter((l) => overdue(l, at + 1, 0))).toHaveLength(1)
    expect(protects(countLeases(leases, at, 0), 0.5)).toBe(true)
  })

  it("names the transition the log lines follow", () => {
    expect(transition(false, true)).toBe("entered")
    expect(transition(true, false)).toBe("left")
    expect(transition(true, true)).toBe("unchanged")
    expect(transition(false, false)).toBe("unchanged")
  })
})
