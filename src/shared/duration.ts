import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const unitMillis = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g
const whole = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/

/**
 * The longest duration Miko accepts anywhere: ten years. Every instant derived from a duration
 * (a delay after now, a lease's end, a retry's wait) must stay a representable date, and no
 * setting or task has a use for more.
 */
export const MAX_DURATION_MILLIS = 3650 * unitMillis.d

/**
 * Parses "500ms", "15s", "1m30s", "2h" into whole milliseconds; `None` when the text is not a
 * duration. Rounded to the millisecond so that `formatMillis` writes back text this reads.
 */
export const parseMillis = (text: string): Option.Option<number> => {
  const trimmed = text.trim()
  if (!whole.test(trimmed)) return Option.none()
  let total = 0
  for (const match of trimmed.matchAll(part)) {
    total += Number(match[1]) * unitMillis[match[2] as keyof typeof unitMillis]
  }
  return Option.some(Math.round(total))
}

/** Formats milliseconds back into the shortest text `parseMillis` reads. */
export const formatMillis = (millis: number): string => {
  if (millis === 0) return "0s"
  let rest = millis
  let out = ""
  for (const unit of ["d", "h", "m", "s", "ms"] as const) {
    const size = unitMillis[unit]
    const count = Math.floor(rest / size)
    if (count > 0) {
      out += `${count}${unit}`
      rest -= count * size
    }
  }
  return rest > 0 ? `${millis}ms` : out
}

/**
 * A duration written as text ("500ms", "15s", "1m30s") on the wire and in config files,
 * and an Effect `Duration` in code.
 */
export const DurationString = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (text, _, ast) =>
    Option.match(parseMillis(text), {
      onNone: () =>
        ParseResult.fail(
          new ParseResult.Type(ast, text, `Expected a duration such as "500ms", "15s", "1m30s" or "2h", found ${JSON.stringify(text)}`)
        ),
      onSome: (millis) =>
        millis <= MAX_DURATION_MILLIS
          ? ParseResult.succeed(Duration.millis(millis))
          : ParseResult.fail(
            new ParseResult.Type(ast, text, `Expected a duration of at most 3650d (ten years), found ${JSON.stringify(text)}`)
          )
    }),
  encode: (duration, _, ast) => {
    const millis = Duration.toMillis(duration)
    return Number.isFinite(millis) && millis >= 0 && millis <= MAX_DURATION_MILLIS
      ? ParseResult.succeed(formatMillis(Math.round(millis)))
      : ParseResult.fail(new ParseResult.Type(ast, duration, "Expected a duration from 0 to 3650d (ten years)"))
  }
}).annotations({
  identifier: "Duration",
  description: "A duration such as \"500ms\", \"15s\", \"1m30s\" or \"2h\"",
  jsonSchema: { type: "string", pattern: whole.source, examples: ["500ms", "15s", "1m30s"] }
})

/** A duration that must be greater than zero. */
export const PositiveDurationString = DurationString.pipe(
  Schema.filter((duration) => Duration.greaterThan(duration, Duration.zero) || "Expected a duration greater than zero")
).annotations({ identifier: "PositiveDuration" })
