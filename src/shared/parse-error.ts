import * as ParseResult from "effect/ParseResult"

/** One problem a Schema found, as `ArrayFormatter` and the HttpApi report it. */
export interface Issue {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/** `path.to.key: message`, or the message alone for a problem with the whole value; `prefix` goes before the path. */
export const describeIssue = (issue: Issue, prefix: ReadonlyArray<PropertyKey> = []): string => {
  const path = [...prefix, ...issue.path]
  return path.length > 0 ? `${path.map(String).join(".")}: ${issue.message}` : issue.message
}

/** Every problem, each as `describeIssue` says it, separated by "; ". */
export const describeIssues = (issues: ReadonlyArray<Issue>, prefix?: ReadonlyArray<PropertyKey>): string =>
  issues.map((issue) => describeIssue(issue, prefix)).join("; ")

/** A decoding failure as one line a person can act on. */
export const describeParseError = (error: ParseResult.ParseError, prefix?: ReadonlyArray<PropertyKey>): string =>
  describeIssues(ParseResult.ArrayFormatter.formatErrorSync(error), prefix)
