/** Reading transport failures: `fetch` wraps the socket's error (with its `code`) in its `cause`. */

/** The `code`s along an error's `cause` chain (and inside an `AggregateError`). */
const causeCodes = (cause: unknown, depth = 0): ReadonlyArray<string> => {
  if (typeof cause !== "object" || cause === null || depth > 5) return []
  const own = "code" in cause && typeof cause.code === "string" ? [cause.code] : []
  const nested = "cause" in cause ? causeCodes(cause.cause, depth + 1) : []
  const grouped = "errors" in cause && Array.isArray(cause.errors) ? cause.errors.flatMap((e: unknown) => causeCodes(e, depth + 1)) : []
  return [...own, ...nested, ...grouped]
}

/** The connection was refused: nothing was sent, so the request may go anywhere else, whatever its method. */
export const isRefused = (cause: unknown): boolean => causeCodes(cause).includes("ECONNREFUSED")

/** A short reason for a transport failure: "connection refused", "host not found", or the innermost message. */
export const describeCause = (cause: unknown): string => {
  const codes = causeCodes(cause)
  if (codes.includes("ECONNREFUSED")) return "connection refused"
  if (codes.includes("ENOTFOUND") || codes.includes("EAI_AGAIN")) return "host not found"
  if (codes.includes("ECONNRESET") || codes.includes("UND_ERR_SOCKET")) return "connection closed"
  let inner: unknown = cause
  for (let i = 0; i < 5 && typeof inner === "object" && inner !== null && "cause" in inner && inner.cause !== undefined; i++) inner = inner.cause
  return inner instanceof Error ? inner.message : String(inner)
}
