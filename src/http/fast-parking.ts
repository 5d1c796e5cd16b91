import type { ServerResponse } from "node:http"

/** How a held response is woken, how long it may wait, and what answers it. */
export interface ParkOptions {
  readonly waitMillis: number
  /** Starts listening for the change; answers a function that stops listening. */
  readonly subscribe: (wake: () => void) => () => void
  /** Writes the answer: on the change, when the wait runs out, or at shutdown. */
  readonly answer: () => void
  /** Called once when the response leaves the parking, answered or not. */
  readonly onSettle?: () => void
}

/**
 * Blocking reads of the fast path held as plain responses, no fiber each: a timer, a listener
 * on the change, and one entry here so that shutdown can answer them all at once.
 */
export const makeParking = () => {
  const held = new Set<() => void>()
  return {
    park: (response: ServerResponse, options: ParkOptions): void => {
      let stop = (): void => undefined
      let timer: ReturnType<typeof setTimeout> | undefined
      let done = false
      const settle = () => {
        if (done) return false
        done = true
        stop()
        clearTimeout(timer)
        held.delete(release)
        options.onSettle?.()
        return true
      }
      const release = () => {
        if (settle() && !response.destroyed) options.answer()
      }
      stop = options.subscribe(release)
      if (done) return
      timer = setTimeout(release, options.waitMillis)
      held.add(release)
      response.once("close", settle)
    },
    /** Answers every held response now: the server is shutting down. */
    releaseAll: (): void => {
      for (const release of [...held]) release()
    }
  }
}

export type Parking = ReturnType<typeof makeParking>
