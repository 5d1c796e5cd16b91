import * as Either from "effect/Either"
import * as YAML from "yaml"

/** Removes `//` and `/* *\/` comments outside string literals, keeping line breaks so positions still match. */
export const stripJsonComments = (text: string): string => {
  let out = ""
  let i = 0
  while (i < text.length) {
    const char = text[i]!
    if (char === "\"") {
      const start = i
      i++
      while (i < text.length && text[i] !== "\"") i += text[i] === "\\" ? 2 : 1
      i++
      out += text.slice(start, i)
    } else if (char === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++
    } else if (char === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2)
      const stop = end === -1 ? text.length : end + 2
      out += text.slice(i, stop).replace(/[^\n]/g, " ")
      i = stop
    } else {
      out += char
      i++
    }
  }
  return out
}

const lineAndColumn = (text: string, offset: number) => {
  const before = text.slice(0, offset)
  const line = before.split("\n").length
  return `line ${line}, column ${offset - before.lastIndexOf("\n")}`
}

const isJson = (path: string) => /\.jsonc?$/i.test(path)

/** Parses a YAML or JSON (with comments) config file; the error names the file and the position. */
export const parseConfigText = (path: string, text: string): Either.Either<unknown, string> => {
  if (isJson(path)) {
    const stripped = stripJsonComments(text)
    if (stripped.trim() === "") return Either.right({})
    try {
      return Either.right(JSON.parse(stripped) as unknown)
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      const position = /position (\d+)/.exec(message)
      const where = position ? ` at ${lineAndColumn(stripped, Number(position[1]))}` : ""
      return Either.left(`config file ${path}: invalid JSON${where}: ${message}`)
    }
  }
  const document = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true })
  const first = document.errors[0]
  if (first !== undefined) {
    const where = ` at ${lineAndColumn(text, first.pos[0])}`
    return Either.left(`config file ${path}: invalid YAML${where}: ${first.message.split("\n")[0]}`)
  }
  const value: unknown = document.toJS()
  return Either.right(value === null || value === undefined ? {} : value)
}
