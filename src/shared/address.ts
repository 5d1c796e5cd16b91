import * as Schema from "effect/Schema"

const hostPort = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/

const isValidAddress = (text: string): boolean => {
  const hp = hostPort.exec(text)
  if (hp !== null) return Number(hp[1]) <= 65535
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return false
  try {
    const url = new URL(text)
    return url.hostname !== ""
  } catch {
    return false
  }
}

/** An endpoint address: a URL such as `http://10.0.0.7:8080/api`, or `host:port`. */
export const Address = Schema.String.pipe(
  Schema.filter((text) =>
    isValidAddress(text) ||
    `Expected a URL such as "http://10.0.0.7:8080" or a "host:port" such as "db.internal:5432", found ${JSON.stringify(text)}`
  )
).annotations({
  identifier: "Address",
  description: "A URL such as \"http://10.0.0.7:8080\" or \"host:port\"",
  jsonSchema: { type: "string", examples: ["http://10.0.0.7:8080", "db.internal:5432"] }
})

/** An absolute http(s) URL. */
export const HttpUrl = Schema.String.pipe(
  Schema.filter((text) => {
    try {
      const url = new URL(text)
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
    } catch {
      return false
    }
  }, { message: (issue) => `Expected an http:// or https:// URL, found ${JSON.stringify(issue.actual)}` })
).annotations({ identifier: "HttpUrl", jsonSchema: { type: "string", format: "uri" } })

/** A service name: a DNS label (lower-case letters, digits and hyphens, at most 63 characters). */
export const ServiceName = Schema.String.pipe(
  Schema.filter((text) =>
    /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(text) ||
    `Expected a service name made of lower-case letters, digits and hyphens (a DNS label, at most 63 characters), found ${JSON.stringify(text)}`
  )
).annotations({ identifier: "ServiceName", jsonSchema: { type: "string", pattern: "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$" } })

/** How an endpoint is spoken to. */
export const Protocol = Schema.Literal("http", "https", "grpc", "tcp", "ws", "wss").annotations({ identifier: "Protocol" })
export type Protocol = typeof Protocol.Type

/**
 * An endpoint is reachable at a public or an internal address, or both: the rule static
 * endpoints and registrations share, as a `Schema.filter` predicate.
 */
export const hasAnAddress = (endpoint: { readonly publicAddress?: string | undefined; readonly internalAddress?: string | undefined }) =>
  endpoint.publicAddress !== undefined || endpoint.internalAddress !== undefined ||
  "Expected at least one of publicAddress or internalAddress"
