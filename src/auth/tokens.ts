import * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { ConfigLoadError } from "../config/errors.js"
import { BaseConfig } from "../config/load.js"
import type { MikoConfig, TokenSpec } from "../config/schema.js"
import { ConfigService } from "../config/service.js"
import { Environment, type EnvironmentNeeded, type EnvironmentVariables, provideEnvironmentArgument } from "../shared/environment.js"
import { Notifications } from "../storage/notifications.js"
import { storageError, StorageError } from "../storage/errors.js"
import type { CallerInfo } from "./caller.js"

interface KnownToken {
  readonly hash: Buffer
  readonly caller: CallerInfo
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest()

/** The file, inside the data dir, that holds the bootstrap admin token. */
export const bootstrapTokenFile = (dataDir: string) => `${dataDir}/admin-token`

/** Checks presented bearer tokens against the configured ones, comparing hashes in constant time. */
export class Tokens extends Context.Tag("miko/auth/Tokens")<Tokens, {
  readonly authenticate: (secret: string) => Effect.Effect<Option.Option<CallerInfo>>
  /** The same, answered at once: for the read fast path, which runs outside any fiber. */
  readonly identify: (secret: string) => CallerInfo | undefined
}>() {}

const secretOf = (token: TokenSpec, env: EnvironmentVariables) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (token.secret !== undefined) return token.secret
    if (token.secretEnv !== undefined) {
      const value = env[token.secretEnv]
      if (value === undefined || value.trim() === "") {
        return yield* new ConfigLoadError({
          message: `auth.tokens: token ${JSON.stringify(token.name)}: environment variable ${token.secretEnv} (secretEnv) is not set`
        })
      }
      return value.trim()
    }
    const path = token.secretFile!
    return yield* fs.readFileString(path).pipe(
      Effect.map((text) => text.trim()),
      Effect.mapError((error) =>
        new ConfigLoadError({
          message: `auth.tokens: token ${JSON.stringify(token.name)}: secretFile ${path} cannot be read: ${error.message}`
        })
      )
    )
  })

const resolveTokens = (config: MikoConfig, env: EnvironmentVariables) =>
  Effect.forEach(config.auth.tokens, (token) =>
    Effect.map(secretOf(token, env), (secret): KnownToken => ({
      hash: sha256(secret),
      caller: {
        name: token.name,
        roles: new Set(token.roles),
        services: token.services === undefined ? undefined : new Set(token.services),
        kv: token.kv ?? []
      }
    })))

/**
 * When no token is configured, the first start creates an admin token, keeps only its hash in
 * the database and writes the token to `<dataDir>/admin-token` (mode 0600) for the operator and the CLI.
 */
const failBootstrap = (error: { readonly message: string }) => Effect.fail(storageError("bootstrap token")(error))

const bootstrapToken = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const fs = yield* FileSystem.FileSystem
  const { shared } = yield* Notifications
  const { resolved } = yield* BaseConfig
  const file = bootstrapTokenFile(resolved.config.general.dataDir)
  const stored = sql<{ token_hash: string }>`SELECT token_hash FROM auth_bootstrap WHERE id = 1`
  const rows = yield* stored
  const fileExists = yield* Effect.orElseSucceed(fs.exists(file), () => false)
  if (rows[0] !== undefined && (fileExists || shared)) {
    yield* Effect.logInfo(
      fileExists
        ? `no auth.tokens configured: the bootstrap admin token is in ${file}`
        : "no auth.tokens configured: the bootstrap admin token is in the data dir of the replica that started first"
    )
    return Buffer.from(rows[0].token_hash, "hex")
  }
  const token = `miko_${randomBytes(32).toString("base64url")}`
  const hash = sha256(token)
  yield* fs.makeDirectory(resolved.config.general.dataDir, { recursive: true })
  yield* fs.writeFileString(file, `${token}\n`, { mode: 0o600 })
  yield* fs.chmod(file, 0o600)
  // Alone, a new token replaces a lost one; among replicas, the first one stays for everybody.
  if (shared) {
    yield* sql`INSERT INTO auth_bootstrap (id, token_hash, created_at) VALUES (1, ${hash.toString("hex")}, ${new Date().toISOString()})
               ON CONFLICT (id) DO NOTHING`
    const kept = (yield* stored)[0]?.token_hash
    if (kept !== undefined && kept !== hash.toString("hex")) {
      yield* fs.remove(file)
      yield* Effect.logInfo("no auth.tokens configured: another replica created the bootstrap admin token first; it is in its data dir")
      return Buffer.from(kept, "hex")
    }
  } else {
    yield* sql`INSERT INTO auth_bootstrap (id, token_hash, created_at) VALUES (1, ${hash.toString("hex")}, ${new Date().toISOString()})
               ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at`
  }
  yield* Effect.logInfo(`no auth.tokens configured: created a bootstrap admin token in ${file}`)
  return hash
}).pipe(
  Effect.catchTags({
    SqlError: failBootstrap,
    SystemError: failBootstrap,
    BadArgument: failBootstrap
  })
)

const bootstrapCaller: CallerInfo = { name: "bootstrap-admin", roles: new Set(["admin"]), services: undefined, kv: [] }

/**
 * Tokens from `auth.tokens`, re-read on every config change. The bootstrap token counts only
 * while no token is configured. `secretEnv` names a variable of the `Environment` service, or of
 * `env` when given (a convenience that provides the service).
 */
export const layer = <Variables extends EnvironmentVariables | undefined = undefined>(
  ...[env]: [env?: Variables]
): Layer.Layer<
  Tokens,
  ConfigLoadError | StorageError,
  ConfigService | BaseConfig | SqlClient.SqlClient | Notifications | FileSystem.FileSystem | EnvironmentNeeded<{ readonly env: Variables }>
> =>
  provideEnvironmentArgument(Layer.scoped(
    Tokens,
    Effect.gen(function*() {
      const config = yield* ConfigService
      const fs = yield* FileSystem.FileSystem
      const env = yield* Environment
      const initial = yield* config.current
      const bootstrapHash = initial.auth.tokens.length === 0 ? Option.some(yield* bootstrapToken) : Option.none()
      // Read by every request and replaced on a config change: a plain value the fast path can read.
      let known = yield* resolveTokens(initial, env)
      // Secrets already matched, so a known token costs one lookup rather than a hash per request.
      // Only matches are kept, so it holds at most one entry per configured token.
      let matched = new Map<string, CallerInfo>()
      yield* config.changes.pipe(
        Stream.drop(1),
        Stream.runForEach((next) =>
          resolveTokens(next, env).pipe(
            Effect.map((tokens) => {
              known = tokens
              matched = new Map()
            }),
            Effect.catchAll((error) => Effect.logError(`auth tokens not updated: ${error.message}`)),
            Effect.provideService(FileSystem.FileSystem, fs)
          )
        ),
        Effect.forkScoped
      )
      const matches = (presented: Buffer, hash: Buffer) => presented.length === hash.length && timingSafeEqual(presented, hash)
      const compare = (secret: string): CallerInfo | undefined => {
        const presented = sha256(secret)
        // Every token is compared, so the time taken does not tell which one matched.
        let found: CallerInfo | undefined
        for (const token of known) if (matches(presented, token.hash) && found === undefined) found = token.caller
        if (found === undefined && known.length === 0 && Option.isSome(bootstrapHash) && matches(presented, bootstrapHash.value)) {
          found = bootstrapCaller
        }
        return found
      }
      const identify = (secret: string): CallerInfo | undefined => {
        const cached = matched.get(secret)
        if (cached !== undefined) return cached
        const found = compare(secret)
        if (found !== undefined) matched.set(secret, found)
        return found
      }
      return Tokens.of({
        identify,
        authenticate: (secret) => Effect.sync(() => Option.fromNullable(identify(secret)))
      })
    })
  ), env)
