import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { Address, hasAnAddress, Protocol, ServiceName } from "../shared/address.js"
import { DurationString, PositiveDurationString } from "../shared/duration.js"
import { KeyPrefix } from "../shared/key-prefix.js"
import { ConfigTasks } from "../scheduler/schema.js"

/** Marks a key whose new value only takes effect after a restart. */
export const RestartRequired = Symbol.for("miko/config/RestartRequired")
/** Marks a key whose value is a secret and is never returned by the API. */
export const Secret = Symbol.for("miko/config/Secret")

const key = <A, I>(
  schema: Schema.Schema<A, I>,
  options: { readonly default: NoInfer<A>; readonly description: string; readonly restart?: boolean }
) =>
  Schema.optionalWith(
    schema.annotations({ description: options.description, [RestartRequired]: options.restart === true }),
    { default: () => options.default }
  )

const optionalKey = <A, I>(
  schema: Schema.Schema<A, I>,
  options: { readonly description: string; readonly restart?: boolean }
) =>
  Schema.optionalWith(
    schema.annotations({ description: options.description, [RestartRequired]: options.restart === true }),
    { exact: true }
  )

/** A section defaults to the defaults of each of its keys. */
const section = <Fields extends Schema.Struct.Fields>(description: string, fields: Fields) => {
  const struct = Schema.Struct(fields).annotations({ description })
  const decodeDefaults = Schema.decodeUnknownSync(struct as unknown as Schema.Schema<Schema.Struct.Type<Fields>>)
  return Schema.optionalWith(struct, { default: () => decodeDefaults({}) })
}

const Port = Schema.Int.pipe(Schema.between(0, 65535)).annotations({ identifier: "Port" })
/** A path of its own for GET /metrics: absolute, plain characters, clear of the API's /v1/ and the probes. */
const MetricsPath = Schema.String.pipe(
  Schema.pattern(/^\/[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*$/, { message: () => "Expected an absolute path such as /metrics (letters, digits, . _ ~ - between slashes)" }),
  Schema.filter((path) => !/^\/(?:v1|healthz|readyz|docs|openapi\.json)(?:\/|$)/.test(path) || "Expected a path outside /v1/, /healthz, /readyz, /docs and /openapi.json")
).annotations({ identifier: "MetricsPath" })
const PositiveInt = Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).annotations({ identifier: "PositiveInt" })

export const Role = Schema.Literal("admin", "register", "internal", "metrics").annotations({
  identifier: "Role",
  description: "admin: everything; register: register and heartbeat endpoints; internal: see internal addresses; metrics: scrape GET /metrics when telemetry.prometheus.access asks for it"
})
export type Role = typeof Role.Type

export const KvPrefix = KeyPrefix

export const KvRule = Schema.Struct({
  prefix: KvPrefix.annotations({ description: "Keys starting with this text; the longest matching rule of a token wins" }),
  access: Schema.Literal("read", "write").annotations({ description: "read: read the keys; write: read, write, delete and roll back, and see secret values" })
}).annotations({ identifier: "KvRule" })
export type KvRule = typeof KvRule.Type

export const TokenSpec = Schema.Struct({
  name: Schema.NonEmptyTrimmedString.annotations({ description: "A name for logs and audit; never the secret" }),
  secret: Schema.optionalWith(
    Schema.String.pipe(Schema.minLength(16)).annotations({ description: "The token itself (at least 16 characters)", [Secret]: true }),
    { exact: true }
  ),
  secretEnv: Schema.optionalWith(Schema.NonEmptyTrimmedString.annotations({ description: "Name of an environment variable that holds the token" }), { exact: true }),
  secretFile: Schema.optionalWith(Schema.NonEmptyTrimmedString.annotations({ description: "Path of a file that holds the token" }), { exact: true }),
  roles: Schema.NonEmptyArray(Role),
  services: Schema.optionalWith(Schema.Array(ServiceName).annotations({ description: "Services this token may register; all when absent" }), { exact: true }),
  kv: Schema.optionalWith(Schema.Array(KvRule).annotations({ description: "Application keys this token may read or write (/v1/kv); none when absent, all for admin" }), { exact: true })
}).pipe(
  Schema.filter((token) => {
    const given = [token.secret, token.secretEnv, token.secretFile].filter((value) => value !== undefined).length
    return given === 1 || {
      path: ["secret"],
      message: `Expected exactly one of secret, secretEnv or secretFile for token ${JSON.stringify(token.name)}, found ${given}`
    }
  })
).annotations({ identifier: "TokenSpec" })
export type TokenSpec = typeof TokenSpec.Type

export const StaticEndpoint = Schema.Struct({
  id: Schema.optionalWith(Schema.NonEmptyTrimmedString.annotations({ description: "Stable id; <service>-static-<position> when absent" }), { exact: true }),
  publicAddress: Schema.optionalWith(Address.annotations({ description: "Address reachable from outside the cluster" }), { exact: true }),
  internalAddress: Schema.optionalWith(Address.annotations({ description: "Cluster-internal address, shown only to the internal role" }), { exact: true }),
  protocol: Schema.optionalWith(Protocol.annotations({ description: "http, https, grpc, tcp, ws or wss" }), { default: () => "http" as const }),
  weight: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 1000)).annotations({ description: "Relative share of traffic (0 takes none)" }), { default: () => 1 }),
  zone: Schema.optionalWith(Schema.NonEmptyTrimmedString.annotations({ description: "Zone, for zone-first clients" }), { exact: true }),
  tags: Schema.optionalWith(Schema.Array(Schema.String).annotations({ description: "Free-form tags to filter by" }), { default: () => [] }),
  metadata: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }).annotations({ description: "String map passed through to clients" }), { default: () => ({}) })
}).pipe(
  Schema.filter(hasAnAddress)
).annotations({ identifier: "StaticEndpoint" })
export type StaticEndpoint = typeof StaticEndpoint.Type

const uniqueTokenNames = Schema.Array(TokenSpec).pipe(
  Schema.filter((tokens) => {
    const seen = new Set<string>()
    for (const [index, token] of tokens.entries()) {
      if (seen.has(token.name)) return { path: [index, "name"], message: `Duplicate token name ${JSON.stringify(token.name)}` }
      seen.add(token.name)
    }
    return true
  })
)

/** The whole configuration: one source for types, defaults, validation, docs and the API. */
export const MikoConfigSchema = Schema.Struct({
  general: section("Process-wide settings", {
    dataDir: key(Schema.NonEmptyTrimmedString, {
      default: "./data",
      description: "Directory for the SQLite database and the bootstrap admin token, relative to the working directory",
      restart: true
    }),
    logLevel: key(Schema.Literal("debug", "info", "warning", "error"), {
      default: "info",
      description: "Lowest level of log lines written"
    }),
    logFormat: key(Schema.Literal("json", "pretty"), {
      default: "pretty",
      description: "json: one JSON object per line; pretty: human-readable lines",
      restart: true
    }),
    shutdownTimeout: key(PositiveDurationString, {
      default: Duration.seconds(10),
      description: "How long a shutdown waits for in-flight requests and running tasks before interrupting them"
    }),
    heap: key(Schema.Literal("auto", "compact", "fast"), {
      default: "auto",
      description: "compact: the JavaScript heap is collected sooner, keeps its young generation near 4 MiB and gives memory back, for a small resident size; " +
        "fast: V8's defaults, a larger heap collected less often; auto: compact until the heap in use passes 96 MiB " +
        "(a directory of tens of thousands of endpoints), fast from there (the standalone binary only)"
    })
  }),
  http: section("The HTTP server", {
    host: key(Schema.NonEmptyTrimmedString, { default: "127.0.0.1", description: "Address to listen on (0.0.0.0 for all interfaces)", restart: true }),
    port: key(Port, { default: 8740, description: "Port to listen on (0 picks a free port)", restart: true }),
    publicUrl: optionalKey(Schema.String, { description: "The URL clients use to reach Miko, when it differs from host:port (behind a proxy)" }),
    maxBodyBytes: key(PositiveInt, { default: 1_048_576, description: "Largest request body accepted, in bytes; larger bodies get 413" })
  }),
  auth: section("Bearer tokens and their roles", {
    tokens: key(uniqueTokenNames, {
      default: [],
      description: "Tokens with roles (admin, register, internal). When empty, a bootstrap admin token is created in the data dir"
    })
  }),
  storage: section("Where state is kept", {
    driver: key(Schema.Literal("sqlite", "postgres"), {
      default: "sqlite",
      description: "sqlite: one Miko with a file in general.dataDir; postgres: one or more replicas sharing a PostgreSQL database",
      restart: true
    }),
    filename: key(Schema.NonEmptyTrimmedString, { default: "miko.db", description: "SQLite file name, relative to general.dataDir", restart: true }),
    busyTimeout: key(PositiveDurationString, { default: Duration.seconds(5), description: "How long a write waits for a locked database", restart: true }),
    postgres: section("The PostgreSQL database, when storage.driver is postgres", {
      url: optionalKey(Schema.String.annotations({ [Secret]: true }), {
        description: "Connection URL (postgres://user:password@host:5432/database); or give secretEnv",
        restart: true
      }),
      secretEnv: optionalKey(Schema.NonEmptyTrimmedString, {
        description: "Name of an environment variable that holds the connection URL",
        restart: true
      }),
      maxConnections: key(PositiveInt, { default: 10, description: "Most connections this replica opens", restart: true })
    })
  }),
  cluster: section("Replicas sharing one PostgreSQL database (a single SQLite Miko is a cluster of one)", {
    leaseTime: key(PositiveDurationString, {
      default: Duration.seconds(15),
      description: "How long the leader's lease lasts without renewal: cluster-wide work moves to another replica within this time after the leader dies",
      restart: true
    }),
    syncInterval: key(PositiveDurationString, {
      default: Duration.seconds(1),
      description: "How often a replica checks the shared change index and the database connection, besides change notifications",
      restart: true
    }),
    staleReadLimit: key(PositiveDurationString, {
      default: Duration.seconds(30),
      description: "How long reads keep answering from the last known state while the database cannot be reached",
      restart: true
    })
  }),
  registry: section("The endpoint directory", {
    publicRead: key(Schema.Boolean, { default: true, description: "Whether reading public endpoints needs no token" }),
    deregisterCriticalAfter: key(PositiveDurationString, {
      default: Duration.minutes(1),
      description: "How long an endpoint stays critical (missed heartbeats or failed checks) before it is removed"
    }),
    maxWait: key(PositiveDurationString, { default: Duration.minutes(5), description: "Longest wait a blocking endpoint-list request may ask for" }),
    protection: section("Mass-expiry protection: when much of the fleet goes quiet at once, Miko suspects itself and keeps the leases (docs/protection.md)", {
      threshold: key(Schema.Number.pipe(Schema.between(0, 1)), {
        default: 0.5,
        description: "Share of leased endpoints that, lapsing within one ttl, makes Miko stop expiring and removing leases until heartbeats return; 0 turns protection off"
      })
    }),
    static: key(Schema.Record({ key: ServiceName, value: Schema.Array(StaticEndpoint) }), {
      default: {},
      description: "Endpoints declared in configuration, by service name"
    })
  }),
  scheduler: section("Background tasks", {
    maxRunningTasks: key(PositiveInt, { default: 8, description: "Most tasks running at once; further ready runs wait by priority" }),
    historyRetention: key(PositiveInt, { default: 100, description: "Executions kept per task" }),
    tasks: key(ConfigTasks, {
      default: [],
      description: "Tasks declared in configuration (kind http), each with a unique name; changes apply live"
    })
  }),
  kv: section("Application keys (/v1/kv, docs/kv.md): JSON values under paths, with versions and watches", {
    publicRead: key(Schema.Array(KvPrefix), {
      default: [],
      description: "Key prefixes anybody may read without a token (and every token besides its own rules)"
    }),
    maxValueBytes: key(PositiveInt, { default: 65_536, description: "Largest value accepted, in bytes of its JSON text; larger values get 413" }),
    retention: key(PositiveInt, { default: 10, description: "Versions kept per key, the current one included; older ones leave the history" })
  }),
  websocket: section("The WebSocket control channel", {
    maxMessageBytes: key(PositiveInt, { default: 65_536, description: "Largest message accepted from a client, in bytes" }),
    maxConnections: key(PositiveInt, { default: 1_000, description: "Most open WebSocket connections" }),
    maxSubscriptions: key(PositiveInt, { default: 32, description: "Most subscriptions per connection" }),
    outgoingQueue: key(PositiveInt, { default: 1_024, description: "Messages queued for one connection before it is closed as a slow consumer" }),
    pingInterval: key(PositiveDurationString, { default: Duration.seconds(20), description: "How often the server pings each connection" }),
    pongTimeout: key(PositiveDurationString, { default: Duration.seconds(10), description: "How long a connection may leave a ping unanswered" }),
    authTimeout: key(PositiveDurationString, { default: Duration.seconds(5), description: "How long a connection may take to send its auth message" })
  }),
  telemetry: section("OpenTelemetry export", {
    otlpEndpoint: optionalKey(Schema.String, {
      description: "OTLP/HTTP base URL (e.g. http://127.0.0.1:4318); telemetry export is off when absent",
      restart: true
    }),
    serviceName: key(Schema.NonEmptyTrimmedString, { default: "miko", description: "service.name of exported telemetry", restart: true }),
    prometheus: section("Metrics in the Prometheus text format on Miko's own port (docs/metrics.md): the same series as the OTLP export", {
      enabled: key(Schema.Boolean, { default: true, description: "Whether the metrics path answers; when false it is 404 like any unknown path" }),
      path: key(MetricsPath, { default: "/metrics", description: "Path of the metrics, outside /v1/", restart: true }),
      access: key(Schema.Literal("open", "metrics", "admin"), {
        default: "open",
        description: "open: no token needed, like /healthz; metrics: a token with the metrics role (or admin); admin: an admin token"
      })
    })
  })
}).annotations({ identifier: "MikoConfig" })

export type MikoConfig = typeof MikoConfigSchema.Type
export type MikoConfigEncoded = typeof MikoConfigSchema.Encoded

/** The configuration with every default applied. */
export const defaultConfig = (): MikoConfig => Schema.decodeSync(MikoConfigSchema)({})
