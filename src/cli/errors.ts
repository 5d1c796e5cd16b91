import * as Schema from "effect/Schema"

/**
 * The exit code of each kind of failure, so that scripts can tell what went wrong without
 * reading the message. Listed in README.md ("CLI"); changing one breaks those scripts.
 */
export const exitCodes = {
  /** A bug, or an answer Miko should not have given. */
  unexpected: 1,
  /** The command line, the local config or the request was refused as invalid (HTTP 400, 413, 415). */
  invalid: 2,
  /** The key, service, endpoint or task does not exist (HTTP 404). */
  notFound: 3,
  /** No token, a token Miko does not know, or one without the role the call needs (HTTP 401, 403). */
  denied: 4,
  /** Miko could not be reached, did not answer in time, or is not ready (HTTP 503). */
  unavailable: 5,
  /** The change contradicts what Miko holds: an id of another service, a static endpoint, a key's version (HTTP 409, 412). */
  conflict: 6
} as const

export const FailureKind = Schema.Literal("unexpected", "invalid", "notFound", "denied", "unavailable", "conflict")
export type FailureKind = typeof FailureKind.Type

/** A CLI command failed; the message is for the person at the terminal, the kind for the exit code. */
export class CliError extends Schema.TaggedError<CliError>()("CliError", {
  kind: FailureKind,
  message: Schema.String
}) {}

/** What an HTTP error status means for the person who sent the request. */
export const kindOfStatus = (status: number): FailureKind => {
  switch (status) {
    case 401:
    case 403:
      return "denied"
    case 404:
      return "notFound"
    case 409:
    case 412:
      return "conflict"
    case 502:
    case 503:
    case 504:
      return "unavailable"
    default:
      // Any other 4xx is about what was sent; any other 5xx is Miko's own failure.
      return status >= 400 && status < 500 ? "invalid" : "unexpected"
  }
}
