import { describe, expect, it } from "vitest"
import { renewalBatches } from "../../src/registry/store.js"

describe("lease renewals saved in batches", () => {
  it("keeps every renewal in order, in batches of a few sizes, the last filled up with its final renewal", () => {
    for (const count of [0, 1, 3, 64, 512, 513, 1300]) {
      const renewals = Array.from({ length: count }, (_, i) => [`e-${i}`, i] as const)
      const batches = renewalBatches(renewals)
      for (const batch of batches) expect([1, 2, 4, 8, 16, 32, 64, 128, 256, 512]).toContain(batch.length)
      const flat = batches.flat()
      expect(new Set(flat)).toEqual(new Set(renewals))
      expect(flat.slice(0, count)).toEqual(renewals)
      expect(flat.slice(count).every((extra) => extra === renewals[count - 1])).toBe(true)
    }
  })
})
