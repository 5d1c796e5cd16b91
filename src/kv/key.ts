import * as Effect from "effect/Effect"
import { KvInvalidKey } from "./errors.js"

const segmentPattern = /^[A-Za-z0-9._-]{1,128}$/
const maxKeyLength = 512
const maxSegments = 16
/** Last segments that name the routes under a key (`/v1/kv/{key}/history`). */
const reserved = new Set(["history", "rollback"])

/** What is wrong with `key`, or undefined when it is a valid key. */
export const keyProblem = (key: string): string | undefined => {
  if (key.length === 0) return "a key must not be empty"
  if (key.length > maxKeyLength) return `a key is at most ${maxKeyLength} characters, this one has ${key.length}`
  if (key.startsWith("/") || key.endsWith("/")) return "a key must not start or end with /"
  const segments = key.split("/")
  if (segments.length > maxSegments) return `a key has at most ${maxSegments} segments, this one has ${segments.length}`
  for (const segment of segments) {
    if (segment === "") return "a key must not contain //"
    // URLs resolve "." and ".." before Miko sees them, so such a key could never be reached.
    if (segment === "." || segment === "..") return "a key segment must not be . or .."
    if (!segmentPattern.test(segment)) {
      return `key segment ${JSON.stringify(segment.slice(0, 140))} must be 1-128 of the characters A-Z a-z 0-9 . _ -`
    }
  }
  const last = segments[segments.length - 1]!
  if (reserved.has(last)) return `a key must not end with the segment ${JSON.stringify(last)}: it is reserved for the ${last} route`
  return undefined
}

/** `key`, when valid; otherwise 400 kv_invalid_key saying why. */
export const validKey = (key: string): Effect.Effect<string, KvInvalidKey> => {
  const problem = keyProblem(key)
  return problem === undefined ? Effect.succeed(key) : Effect.fail(new KvInvalidKey({ message: `invalid key: ${problem}` }))
}
