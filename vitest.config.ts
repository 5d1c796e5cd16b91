import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real processes on loopback ports; two at a time suits a small machine.
    maxWorkers: 2,
    minWorkers: 1
  }
})
