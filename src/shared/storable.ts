import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * Encodes a value for storage and decodes the result again before it is written: a record that
 * its own read path cannot decode must never be committed, or every later list, reload and
 * start-up would meet it. Answers the encoded form, or the reason it would not read back.
 */
export const storable = <A, I>(schema: Schema.Schema<A, I>) => {
  const encode = Schema.encodeEither(schema)
  const decode = Schema.decodeUnknownEither(schema)
  return (value: A): Either.Either<I, ParseResult.ParseError> =>
    Either.flatMap(encode(value), (encoded) => Either.map(decode(encoded), () => encoded))
}
