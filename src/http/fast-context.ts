import type { MikoConfig } from "../config/schema.js"
import type { Parking } from "./fast-parking.js"
import type { RecordRequest } from "./request-metrics.js"

/** What the fast path reads on every request, kept current by fibers as plain values. */
export interface Settings {
  readonly config: MikoConfig
  readonly shuttingDown: boolean
  /** False while a replica's copy of the shared state may be stale: the API answers then. */
  readonly fresh: boolean
}

/** What each group of fast answers shares: the settings, the request metrics and the parked reads. */
export interface FastContext {
  readonly settings: () => Settings
  readonly record: RecordRequest
  readonly parking: Parking
}

export type Headers = Record<string, string | number>

export const secondsSince = (started: number) => (performance.now() - started) / 1000

/** While shutting down, connections are closed after their answer so the server can finish. */
export const withClosing = (context: FastContext, headers: Headers): Headers =>
  context.settings().shuttingDown ? { ...headers, connection: "close" } : headers
