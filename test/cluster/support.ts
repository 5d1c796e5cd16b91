import { admin, tokens } from "../registry/support.js"
import { api, type Json, type Miko, startMiko } from "../support/miko.js"
import { freshDatabase } from "../support/postgres.js"

/** The leader lease the cluster tests run with: short, so a takeover is quick to watch. */
export const leaseMillis = 2_000

/**
 * How often replicas check the shared index by themselves: long, so that a change reaching
 * another replica within 1 s can only have come by notification.
 */
export const syncMillis = 5_000

/** Settings every replica of one test cluster shares. */
export const clusterConfig = (url: string, extra: Record<string, unknown> = {}) => ({
  storage: { driver: "postgres", postgres: { url } },
  cluster: { leaseTime: `${leaseMillis}ms`, syncInterval: `${syncMillis}ms` },
  auth: { tokens },
  ...extra
})

/** Replicas on loopback ports sharing one fresh PostgreSQL database, started together. */
export const startReplicas = async (count: number, extra: Record<string, unknown> = {}) => {
  const url = await freshDatabase()
  const replicas = await Promise.all(Array.from({ length: count }, () => startMiko({ config: clusterConfig(url, extra) })))
  return { url, replicas }
}

export const clusterStatus = async (miko: Miko) => (await api(`${miko.url}/v1/cluster`, { token: admin })).body

/** The replica holding the leader lease, once one does (asked of `among`, answered by any). */
export const awaitLeader = async (among: ReadonlyArray<Miko>, timeoutMs = 10_000): Promise<{ readonly leader: Miko; readonly id: string }> => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    for (const miko of among) {
      const status = await clusterStatus(miko).catch(() => undefined)
      const id = status?.["leader"] as unknown as string | null | undefined
      if (typeof id !== "string") continue
      // Each replica names itself in `replica`; find the process behind the leader's id.
      for (const candidate of among) {
        const own = await clusterStatus(candidate).catch(() => undefined)
        if (own?.["replica"] as unknown as string === id) return { leader: candidate, id }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error("no leader among the replicas in time")
}

export type { Json }
