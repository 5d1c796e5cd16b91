import type { EndpointList } from "./types.js"

/** Waits between attempts after a drop: quick at first, at most 5 s. */
export const backoff = (attempt: number): number => Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface BlockingHandlers {
  readonly index: () => number | undefined
  readonly onList: (list: EndpointList) => void
  readonly onDrop: () => void
  /** Reading endpoints needs a token here (`registry.publicRead` is off): nothing to retry. */
  readonly onRefused: (message: string) => void
}

/**
 * Follows the directory without a token: `GET /v1/endpoints`, then the blocking query
 * `?index=N&wait=30s`, which Miko answers as soon as the directory changes past N.
 */
export const followEndpointList = async (signal: AbortSignal, handlers: BlockingHandlers): Promise<void> => {
  let attempts = 0
  while (!signal.aborted) {
    const index = handlers.index()
    try {
      const response = await fetch(`/v1/endpoints${index === undefined ? "" : `?index=${index}&wait=30s`}`, { signal, cache: "no-store" })
      if (response.status === 401 || response.status === 403) {
        const body = (await response.json()) as { error?: { message?: string } }
        return handlers.onRefused(body.error?.message ?? "reading endpoints needs a token")
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`)
      handlers.onList((await response.json()) as EndpointList)
      attempts = 0
    } catch {
      if (signal.aborted) return
      handlers.onDrop()
      await sleep(backoff(attempts++))
    }
  }
}
