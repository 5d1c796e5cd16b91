import * as Cron from "effect/Cron"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"

const sixFields = ["second", "minute", "hour", "day of month", "month", "day of week"] as const

/**
 * Parses a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds
 * first) in a time zone. `Cron.parse` says what is wrong but not where, so each field is also
 * parsed alone: a failure names the field's position, its name and its text.
 */
export const parseCron = (expression: string, timezone?: string): Either.Either<Cron.Cron, string> => {
  const fields = expression.trim().split(/\s+/).filter((field) => field !== "")
  if (fields.length !== 5 && fields.length !== 6) {
    return Either.left(
      `Expected a cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), found ${fields.length} in ${JSON.stringify(expression)}`
    )
  }
  const names = fields.length === 6 ? sixFields : sixFields.slice(1)
  for (const [index, field] of fields.entries()) {
    const probe = fields.map((other, position) => (position === index ? other : "*")).join(" ")
    const parsed = Cron.parse(probe)
    if (Either.isLeft(parsed)) {
      return Either.left(
        `field ${index + 1} (${names[index]}) ${JSON.stringify(field)} of ${JSON.stringify(expression)}: ${parsed.left.message}`
      )
    }
  }
  if (timezone !== undefined && Option.isNone(DateTime.zoneMakeNamed(timezone))) {
    return Either.left(`unknown time zone ${JSON.stringify(timezone)}: expected an IANA name such as "Europe/Berlin" or "UTC"`)
  }
  return Either.mapLeft(Cron.parse(expression, timezone), (error) => `${JSON.stringify(expression)}: ${error.message}`)
}

/** The first instant after `after` the expression matches; `None` when it never matches (the 31st of February). */
export const nextCronInstant = (cron: Cron.Cron, after: number): Option.Option<number> =>
  Option.map(
    Either.getRight(Either.try(() => Cron.next(cron, after))),
    (date) => date.getTime()
  )

/** The last instant at or before `at` the expression matched; `None` when there is none. */
export const previousCronInstant = (cron: Cron.Cron, at: number): Option.Option<number> =>
  Option.map(
    // `Cron.prev` looks strictly before the second it is given, so start one second later.
    Either.getRight(Either.try(() => Cron.prev(cron, at + 1_000))),
    (date) => date.getTime()
  )

/** `undefined` for a valid expression that matches at least once a year, else the problem. */
export const cronProblem = (expression: string, timezone?: string): string | undefined =>
  Either.match(parseCron(expression, timezone), {
    onLeft: (problem) => problem,
    onRight: (cron) =>
      Option.isNone(nextCronInstant(cron, Date.UTC(2000, 0, 1)))
        ? `${JSON.stringify(expression)} never matches a date`
        : undefined
  })
