import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { formatMillis } from "../shared/duration.js"
import { CliError } from "./errors.js"

/** Columns padded to their widest cell; no trailing blanks, so the output diffs and greps cleanly. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join("  ").trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

/** `label: value` lines for one record; absent values are left out rather than shown empty. */
export const fields = (pairs: ReadonlyArray<readonly [string, string | undefined]>): string => {
  const present = pairs.filter((pair): pair is readonly [string, string] => pair[1] !== undefined)
  const width = Math.max(0, ...present.map(([label]) => label.length + 1))
  return present.map(([label, value]) => `${`${label}:`.padEnd(width)}  ${value}`).join("\n")
}

/** A cell for an optional value. */
export const cell = (value: string | undefined): string => (value === undefined || value === "" ? "-" : value)

/** An ISO instant as people read it: to the second, in UTC. */
export const instant = (iso: string | undefined): string | undefined =>
  iso === undefined ? undefined : iso.replace("T", " ").replace(/\.\d+Z$/, "Z")

/** How long from one ISO instant to another, as `1.2s` or `3m`. */
export const between = (from: string, to: string | undefined): string | undefined => {
  if (to === undefined) return undefined
  const millis = Date.parse(to) - Date.parse(from)
  return Number.isFinite(millis) ? formatMillis(Math.max(0, millis)) : undefined
}

/**
 * Prints a value as Miko sent it: the schema encodes it back to its wire form, so that `--json`
 * output reads like the HTTP API's (instants and durations as text).
 */
export const printJson = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Schema.encode(schema)(value).pipe(
    Effect.mapError((error) => new CliError({ kind: "unexpected", message: `cannot print the answer: ${error.message}` })),
    Effect.flatMap((encoded) => Console.log(JSON.stringify(encoded, null, 2)))
  )

/** Encodes an answer to its wire form, the one the tables are drawn from. */
export const wire = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Effect.mapError(Schema.encode(schema)(value), (error) => new CliError({ kind: "unexpected", message: `cannot show the answer: ${error.message}` }))
