/** Addresses: Miko's own, the endpoints', and the `http://<service>/path` URLs callers write. */
import * as Either from "effect/Either"
import { InvalidMikoAddress } from "./errors.js"

const serviceNamePattern = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/
const hostPortPattern = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/
const schemePattern = /^[a-z][a-z0-9+.-]*:\/\//i

/** A service name as Miko requires it: a DNS label. */
export const isServiceName = (name: string): boolean => serviceNamePattern.test(name)

const parseUrl = (text: string): URL | undefined => (URL.canParse(text) ? new URL(text) : undefined)

/**
 * Miko's base URL from `http://host:port[/prefix]`, `https://…` or `host:port`, without a trailing
 * slash; anything else is an `InvalidMikoAddress` that says what is wrong.
 */
export const parseMikoAddress = (address: string): Either.Either<string, InvalidMikoAddress> => {
  const bad = (reason: string) =>
    Either.left(new InvalidMikoAddress({ address, message: `invalid Miko address ${JSON.stringify(address)}: ${reason}` }))
  const raw = address.trim()
  if (raw === "") return bad("empty: pass the address option or set MIKO_ADDRESS")
  if (/\s/.test(raw)) return bad("contains white space")
  let text = raw
  if (!schemePattern.test(raw)) {
    const hostPort = hostPortPattern.exec(raw)
    if (hostPort === null) return bad("expected a URL such as \"http://127.0.0.1:8740\" or a \"host:port\"")
    text = `http://${raw}`
  }
  const url = parseUrl(text)
  if (url === undefined) return bad("not a URL")
  if (url.protocol !== "http:" && url.protocol !== "https:") return bad(`the scheme must be http or https, found ${JSON.stringify(url.protocol.slice(0, -1))}`)
  if (url.hostname === "") return bad("no host")
  if (/:\/\/[^/]*:(?:\/|$)/.test(text)) return bad("empty port")
  const port = /:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)/.exec(text)?.[1]
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return bad("the port must be a number from 1 to 65535")
  if (url.username !== "" || url.password !== "") return bad("credentials in the address are not supported; use the token option")
  if (url.search !== "" || url.hash !== "" || text.includes("?") || text.includes("#")) return bad("a query or fragment is not allowed")
  return Either.right(`${url.origin}${url.pathname.replace(/\/+$/, "")}`)
}

const schemeOf = (protocol: string): string | undefined => {
  switch (protocol.toLowerCase()) {
    case "http":
    case "ws":
      return "http"
    case "https":
    case "wss":
      return "https"
  }
  return undefined
}

/**
 * Where HTTP requests for an endpoint go: a scheme (absent: keep the caller's), `host:port`, and a
 * path prefix without a trailing slash. Computed once per endpoint list, not per request.
 */
export interface HttpTarget {
  readonly scheme: string | undefined
  readonly host: string
  readonly path: string
}

/** Reads an endpoint address (a URL, or `host:port` with the scheme from the endpoint's protocol). */
export const httpTarget = (address: string, protocol: string): HttpTarget | undefined => {
  if (!schemePattern.test(address)) {
    return hostPortPattern.test(address) ? { scheme: schemeOf(protocol), host: address, path: "" } : undefined
  }
  const url = parseUrl(address)
  if (url === undefined || url.host === "") return undefined
  return { scheme: schemeOf(url.protocol.slice(0, -1)) ?? schemeOf(protocol), host: url.host, path: url.pathname.replace(/\/+$/, "") }
}

/** A caller's URL that names a service: `http://<service>/path?query`. */
export interface ServiceUrl {
  readonly service: string
  readonly scheme: string
  /** Path and query, as written: `/path?query`. */
  readonly rest: string
}

const serviceUrlPattern = /^(https?):\/\/([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?=[/?#]|$)([^#]*)/i

/**
 * `http://<service>/path` (or `https://`) where the host is a service name (a single DNS label, no
 * port, no credentials); any other URL is left to reach its own host. Read with a pattern rather
 * than a URL parser: it runs on every request.
 */
export const serviceUrl = (input: string): ServiceUrl | undefined => {
  const match = serviceUrlPattern.exec(input)
  if (match === null) return undefined
  const service = match[2]!.toLowerCase()
  if (/^\d+$/.test(service)) return undefined
  const rest = match[3]!
  return { service, scheme: match[1]!.toLowerCase(), rest: rest === "" ? "/" : rest.startsWith("?") ? `/${rest}` : rest }
}

/** The concrete URL of a request for `url` sent to `target`. */
export const resolveUrl = (target: HttpTarget, url: ServiceUrl): string =>
  `${target.scheme ?? url.scheme}://${target.host}${target.path}${url.rest}`
