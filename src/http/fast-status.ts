import type { ServerResponse } from "node:http"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { LeaseProtection, type Visibility } from "../registry/model.js"
import { RenderedReads } from "../registry/rendered.js"
import { Registry } from "../registry/service.js"
import { version } from "../shared/version.js"

/** How often the fast path looks at storage and at mass-expiry protection, to answer from what it saw. */
const readinessInterval = Duration.seconds(1)
const protectionInterval = Duration.millis(250)
/** A readiness older than this is not trusted: the API checks storage itself and says what is wrong. */
const readinessTrust = 2_500

const healthBody = Buffer.from(JSON.stringify({ status: "ok", version }))
const readyBody = Buffer.from(JSON.stringify({ status: "ready" }))
const encodeProtection = Schema.encodeSync(LeaseProtection)

const sendJson = (response: ServerResponse, body: Buffer) =>
  response.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body)

/**
 * `GET /healthz`, `GET /readyz` and `GET /v1/services` from memory. The service list joins the
 * summaries rendered once per change and visibility with the protection state, which a fiber
 * reads every 250 ms (the lease sweep's own pace); readiness is the last storage check of a fiber
 * that runs one every second. Each answer says false when it cannot answer for sure (storage not
 * seen lately), and the HTTP API, which checks again, answers instead.
 */
export const makeStatusAnswers: Effect.Effect<
  {
    readonly healthz: (response: ServerResponse) => boolean
    readonly readyz: (response: ServerResponse, shuttingDown: boolean) => boolean
    readonly services: (response: ServerResponse, visibility: Visibility) => boolean
  },
  never,
  RenderedReads | Registry | SqlClient.SqlClient | Scope.Scope
> = Effect.gen(function*() {
  const reads = yield* RenderedReads
  const registry = yield* Registry
  const sql = yield* SqlClient.SqlClient
  // Plain values kept current by fibers, so that a request reads them without entering one.
  const protectionJson = Effect.map(registry.protection, (status) => JSON.stringify(encodeProtection(status)))
  let protection = yield* protectionJson
  let readyAt = 0

  yield* protectionJson.pipe(
    Effect.map((text) => (protection = text)),
    Effect.repeat(Schedule.spaced(protectionInterval)),
    Effect.forkScoped
  )
  yield* sql`SELECT 1`.pipe(
    Effect.timeout(Duration.seconds(2)),
    Effect.match({ onFailure: () => undefined, onSuccess: () => (readyAt = Date.now()) }),
    Effect.repeat(Schedule.spaced(readinessInterval)),
    Effect.forkScoped
  )

  return {
    healthz: (response) => {
      sendJson(response, healthBody)
      return true
    },
    readyz: (response, shuttingDown) => {
      if (shuttingDown || Date.now() - readyAt > readinessTrust) return false
      sendJson(response, readyBody)
      return true
    },
    services: (response, visibility) => {
      const { index, json } = reads.services(visibility)
      sendJson(response, Buffer.from(`{"index":${index},"services":${json},"protection":${protection}}`))
      return true
    }
  }
})
