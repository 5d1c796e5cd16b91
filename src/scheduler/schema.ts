/**
 * What a task is made of, as the config file and the HTTP API write it. This file imports only
 * `effect` and `shared/`, so the config Schema can declare `scheduler.tasks` without loading
 * the scheduler itself.
 */
import type * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as AST from "effect/SchemaAST"
import { HttpUrl } from "../shared/address.js"
import { DurationString, PositiveDurationString } from "../shared/duration.js"
import { describeIssues } from "../shared/parse-error.js"
import { cronProblem } from "./cron.js"
import { KeyPrefix } from "../shared/key-prefix.js"

const optional = <A, I, R>(schema: Schema.Schema<A, I, R>) => Schema.optionalWith(schema, { exact: true })

const firstInstant = Date.UTC(1970, 0, 1)
const lastInstant = Date.UTC(9999, 11, 31, 23, 59, 59, 999)

/**
 * An instant on the wire: ISO 8601 text such as "2030-01-31T12:00:00Z", from 1970 to the end of
 * 9999. The bound keeps every date derived from it (plus a delay, a jitter, a retry) representable
 * and written back as four-digit-year text that reads again.
 */
export const Instant = Schema.DateTimeUtc.annotations({
  message: (issue) => `Expected an ISO 8601 instant such as "2030-01-31T12:00:00Z", found ${JSON.stringify(issue.actual)}`
}).pipe(
  Schema.filter((instant) =>
    (instant.epochMillis >= firstInstant && instant.epochMillis <= lastInstant) ||
    `Expected an instant from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z, found ${JSON.stringify(new Date(instant.epochMillis).toISOString())}`
  )
).annotations({
  identifier: "Instant",
  description: "An ISO 8601 instant such as \"2030-01-31T12:00:00Z\""
})

/** A task's name; it also names config-declared tasks, so it stays URL- and log-friendly. */
export const TaskName = Schema.String.pipe(
  Schema.filter((text) =>
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(text) ||
    `Expected a task name of letters, digits, ".", "_" and "-" (at most 100 characters), found ${JSON.stringify(text)}`
  )
).annotations({ identifier: "TaskName", jsonSchema: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$" } })

/** The name of an event that event triggers wait for. */
export const EventName = Schema.String.pipe(
  Schema.filter((text) =>
    /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(text) ||
    `Expected an event name of letters, digits, ".", "_", ":" and "-" (at most 128 characters), found ${JSON.stringify(text)}`
  )
).annotations({ identifier: "EventName", jsonSchema: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$" } })

/** Fields every periodic trigger shares: a random delay and a window of activity. */
const windowFields = {
  jitter: optional(DurationString.annotations({ description: "Each firing is delayed by a random amount up to this" })),
  startAt: optional(Instant.annotations({ description: "No firing before this instant" })),
  endAt: optional(Instant.annotations({ description: "No firing after this instant" }))
}

const windowIsOrdered = ({ endAt, startAt }: { readonly startAt?: DateTime.Utc; readonly endAt?: DateTime.Utc }) => {
  return startAt === undefined || endAt === undefined || startAt.epochMillis < endAt.epochMillis ||
    { path: ["endAt"], message: "Expected endAt to be after startAt" }
}

export const EveryTrigger = Schema.Struct({
  every: PositiveDurationString.annotations({ description: "The interval between firings" }),
  ...windowFields
}).pipe(Schema.filter(windowIsOrdered)).annotations({
  identifier: "EveryTrigger",
  description: "Fires every interval: from startAt on its grid when given, else one interval after the task is added"
})
export type EveryTrigger = typeof EveryTrigger.Type

export const CronTrigger = Schema.Struct({
  cron: Schema.String.annotations({
    description: "5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first",
    examples: ["0 */5 * * * *", "30 2 * * 1-5"]
  }),
  timezone: optional(Schema.String.annotations({ description: "IANA time zone the fields are read in; UTC when absent" })),
  ...windowFields
}).pipe(
  Schema.filter((trigger) => {
    const problem = cronProblem(trigger.cron, trigger.timezone)
    if (problem === undefined) return windowIsOrdered(trigger)
    return { path: [problem.startsWith("unknown time zone") ? "timezone" : "cron"], message: problem }
  })
).annotations({ identifier: "CronTrigger", description: "Fires at the instants a cron expression matches" })
export type CronTrigger = typeof CronTrigger.Type

export const EventTrigger = Schema.Struct({
  event: EventName.annotations({ description: "Fires when this event is raised (POST /v1/events/{name})" })
}).annotations({ identifier: "EventTrigger" })
export type EventTrigger = typeof EventTrigger.Type

export const KvChangedTrigger = Schema.Struct({
  kvChanged: KeyPrefix.annotations({
    description: "Fires once per committed change (write, delete, rollback) of a key starting with this prefix; the run's context carries the key"
  })
}).annotations({ identifier: "KvChangedTrigger" })
export type KvChangedTrigger = typeof KvChangedTrigger.Type

export const DelayTrigger = Schema.Struct({
  delay: DurationString.annotations({ description: "Fires once, this long after the task was created" })
}).annotations({ identifier: "DelayTrigger" })
export type DelayTrigger = typeof DelayTrigger.Type

export const AtTrigger = Schema.Struct({
  at: Instant.annotations({ description: "Fires once at this instant (at once when it has passed)" })
}).annotations({ identifier: "AtTrigger" })
export type AtTrigger = typeof AtTrigger.Type

const triggerKinds = ["every", "cron", "event", "kvChanged", "delay", "at"] as const

/** Whether a union member (a struct, maybe refined) declares the property `key`. */
const declares = (ast: AST.AST, key: string): boolean => {
  switch (ast._tag) {
    case "Refinement":
      return declares(ast.from, key)
    case "Transformation":
      return declares(ast.from, key)
    case "TypeLiteral":
      return ast.propertySignatures.some((property) => property.name === key)
    default:
      return false
  }
}

/**
 * A union fails with one complaint per member ("every is missing", "cron is missing", ...), which
 * tells a person nothing. The key present decides the kind, so only that member's problem is told.
 */
const triggerMessage = (issue: ParseResult.ParseIssue) => {
  const actual = issue.actual
  if (typeof actual !== "object" || actual === null || Array.isArray(actual)) {
    return { message: `Expected a trigger object such as {"every": "1m"}, found ${JSON.stringify(actual)}`, override: true }
  }
  const present = triggerKinds.filter((kind) => kind in actual)
  if (present.length !== 1) {
    const found = present.length === 0 ? `keys ${JSON.stringify(Object.keys(actual))}` : present.join(" and ")
    return {
      message: present.length === 0
        ? `Expected a trigger with one of ${triggerKinds.join(", ")}, found ${found}`
        : `Expected one kind of trigger per entry, found ${found}; give each its own entry`,
      override: true
    }
  }
  const kind = present[0]!
  const members = Predicate.isTagged(issue, "Composite") ? (Array.isArray(issue.issues) ? issue.issues : [issue.issues]) : []
  const own = (members as ReadonlyArray<ParseResult.ParseIssue>).find((member) =>
    !Predicate.isTagged(member, "Missing") && "ast" in member && declares(member.ast, kind)
  )
  if (own === undefined) return { message: `Invalid ${kind} trigger`, override: true }
  const problems = ParseResult.ArrayFormatter.formatIssueSync(own)
  return {
    message: describeIssues(problems),
    override: true
  }
}

/** When a task fires: periodic (`every`, `cron`), on an event, or once (`delay`, `at`). */
export const Trigger = Schema.Union(EveryTrigger, CronTrigger, EventTrigger, KvChangedTrigger, DelayTrigger, AtTrigger).annotations({
  identifier: "Trigger",
  message: triggerMessage
})
export type Trigger = typeof Trigger.Type

export const Backoff = Schema.Literal("fixed", "exponential").annotations({ identifier: "Backoff" })
export type Backoff = typeof Backoff.Type

/** The most retries a task may ask for: beyond that a task is broken, not unlucky. */
export const MAX_RETRIES = 100

export const RetryPolicy = Schema.Struct({
  maxRetries: Schema.optionalWith(
    Schema.Int.pipe(Schema.between(0, MAX_RETRIES)).annotations({
      description: `Attempts after the first failed one (0 to ${MAX_RETRIES})`,
      message: (issue) => `Expected a whole number of retries from 0 to ${MAX_RETRIES}, found ${JSON.stringify(issue.actual)}`
    }),
    { exact: true, default: () => 0 }
  ),
  backoff: Schema.optionalWith(Backoff.annotations({ description: "fixed: every wait is `delay`; exponential: doubles each time" }), {
    default: () => "exponential" as const
  }),
  delay: Schema.optionalWith(PositiveDurationString.annotations({ description: "The first wait before a retry" }), {
    default: () => Duration.seconds(1)
  }),
  maxDelay: optional(PositiveDurationString.annotations({ description: "The longest wait between attempts" })),
  jitter: optional(DurationString.annotations({ description: "Each wait is lengthened by a random amount up to this" }))
}).annotations({ identifier: "RetryPolicy", description: "What happens after a failed or timed-out attempt" })
export type RetryPolicy = typeof RetryPolicy.Type
export type RetryPolicyEncoded = typeof RetryPolicy.Encoded

export const defaultRetryPolicy: RetryPolicy = Schema.decodeSync(RetryPolicy)({})

export const Overlap = Schema.Literal("skip", "queue", "allow").annotations({
  identifier: "Overlap",
  description: "A trigger while a run is going: skip it, queue one run after it, or allow runs side by side"
})
export type Overlap = typeof Overlap.Type

export const Priority = Schema.Int.pipe(Schema.between(-1000, 1000)).annotations({
  identifier: "Priority",
  description: "Higher runs first when slots are scarce (-1000 to 1000)"
})

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

export const HttpMethod = Schema.Literal("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS").annotations({ identifier: "HttpMethod" })

/** The request an `http` task sends; a 2xx answer is a success. */
export const HttpRequestSpec = Schema.Struct({
  method: Schema.optionalWith(HttpMethod.annotations({ description: "The request method" }), { exact: true, default: () => "GET" as const }),
  url: HttpUrl.annotations({ description: "An absolute http:// or https:// URL" }),
  headers: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: Schema.String }).annotations({ description: "Request headers" }).pipe(
      Schema.filter((headers) => {
        const bad = Object.keys(headers).find((name) => !headerName.test(name))
        return bad === undefined || { path: [bad], message: `Expected an HTTP header name, found ${JSON.stringify(bad)}` }
      })
    ),
    { exact: true, default: () => ({}) }
  ),
  body: optional(Schema.String.annotations({ description: "Sent as is; the content type is JSON when it parses as JSON, else text, unless a header says otherwise" }))
}).pipe(
  Schema.filter((request) =>
    request.body === undefined || (request.method !== "GET" && request.method !== "HEAD") ||
    { path: ["body"], message: `Expected no body with ${request.method}; use POST, PUT or PATCH to send one` }
  )
).annotations({ identifier: "HttpRequest" })
export type HttpRequestSpec = typeof HttpRequestSpec.Type

/**
 * A task as declared in `config.yaml` or sent to `POST /v1/tasks`. Unknown fields are errors, so a
 * typo such as `priorty` is reported rather than silently dropped.
 */
export const TaskSpec = Schema.Struct({
  name: TaskName.annotations({ description: "Names the task in lists and logs; config-declared tasks get the id config:<name>" }),
  description: optional(Schema.String.annotations({ description: "Free text for people" })),
  kind: Schema.Literal("http").annotations({
    description: "What the task does; `http` sends a request",
    message: (issue) => `Expected a task kind of "http", found ${JSON.stringify(issue.actual)}`
  }),
  http: HttpRequestSpec.annotations({ description: "The request sent on every run" }),
  triggers: Schema.Array(Trigger).pipe(
    Schema.minItems(1, { message: () => "Expected at least one trigger" }),
    Schema.maxItems(32, { message: () => "Expected at most 32 triggers" })
  ),
  priority: Schema.optionalWith(Priority, { exact: true, default: () => 0 }),
  retry: Schema.optionalWith(RetryPolicy, { exact: true, default: () => defaultRetryPolicy }),
  timeout: optional(PositiveDurationString.annotations({ description: "An attempt running longer is interrupted and recorded as timed-out" })),
  overlap: Schema.optionalWith(Overlap, { exact: true, default: () => "skip" as const }),
  enabled: Schema.optionalWith(Schema.Boolean.annotations({ description: "False to declare the task paused" }), {
    exact: true,
    default: () => true
  }),
  catchUp: Schema.optionalWith(
    Schema.Boolean.annotations({ description: "Fire once at start when a periodic slot was missed while Miko was down" }),
    { exact: true, default: () => false }
  )
}).annotations({
  identifier: "TaskSpec",
  parseOptions: { onExcessProperty: "error" }
})
export type TaskSpec = typeof TaskSpec.Type
export type TaskSpecEncoded = typeof TaskSpec.Encoded

/** `scheduler.tasks`: tasks declared in configuration, each name once. */
export const ConfigTasks = Schema.Array(TaskSpec).pipe(
  Schema.filter((tasks) => {
    const seen = new Set<string>()
    for (const [index, task] of tasks.entries()) {
      if (seen.has(task.name)) return { path: [index, "name"], message: `Duplicate task name ${JSON.stringify(task.name)}` }
      seen.add(task.name)
    }
    return true
  })
)
