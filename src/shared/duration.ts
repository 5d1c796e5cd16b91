import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const unitMillis = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g
const whole = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/

/** Parses "500ms", "15s", "1m30s", "2h" into milliseconds; `None` when the text is not a duration. */
export const parseMillis = (text: string): Option.Option<number> => {
  const trimmed = text.trim()
  if (!whole.test(trimmed)) return Option.none()
  let total = 0
  for (const match of trimmed.matchAll(part)) {
    total += Number(match[1]) * unitMillis[match[2] as keyof typeof unitMillis]
  }
  return Option.some(total)
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
      onSome: (millis) => ParseResult.succeed(Duration.millis(millis))
    }),
  encode: (duration) => ParseResult.succeed(formatMillis(Duration.toMillis(duration)))
}).annotations({
  identifier: "Duration",
  description: "A duration such as \"500ms\", \"15s\", \"1m30s\" or \"2h\"",
  jsonSchema: { type: "string", pattern: whole.source, examples: ["500ms", "15s", "1m30s"] }
})

/** A duration that must be greater than zero. */
export const PositiveDurationString = DurationString.pipe(
  Schema.filter((duration) => Duration.greaterThan(duration, Duration.zero) || "Expected a duration greater than zero")
).annotations({ identifier: "PositiveDuration" })
