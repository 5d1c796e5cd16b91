/** The client's options, and their checked, defaulted form. */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { isServiceName, parseMikoAddress } from "./address.js"
import { InvalidMikoAddress, InvalidMikoOptions } from "./errors.js"

/** How a service's endpoint is chosen among the passing ones. */
export type Strategy = "round-robin" | "weighted-random" | "zone-first"

/** Which address of an endpoint the client uses. */
export type AddressKind = "public" | "internal"

/**
 * A duration: milliseconds as a number, Miko's notation (`"500ms"`, `"10s"`, `"1m30s"`), or any
 * Effect `DurationInput` (`"10 seconds"`, `Duration.seconds(10)`).
 */
export type DurationOption = Duration.DurationInput | MikoDuration

type DurationUnit = "ms" | "s" | "m" | "h" | "d"
/** Miko's notation: `"500ms"`, `"15s"`, `"1m30s"`. */
export type MikoDuration = `${number}${DurationUnit}` | `${number}${DurationUnit}${number}${DurationUnit}`

/** TLS settings for connections to Miko and to `https` endpoints (Node's `tls` options). */
export interface TlsOptions {
  /** Trusted certificate authorities (PEM), replacing the default set. */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined
  /** A client certificate (PEM), for mutual TLS. */
  readonly cert?: string | Buffer | undefined
  /** The client certificate's private key (PEM). */
  readonly key?: string | Buffer | undefined
  readonly passphrase?: string | undefined
  /** `false` accepts any certificate: for tests only. Default `true`. */
  readonly rejectUnauthorized?: boolean | undefined
  /** The name the server certificate must carry, when it differs from the host. */
  readonly servername?: string | undefined
}

export interface MikoClientOptions {
  /** Miko's address: `http://host:port`, `https://…` (a path prefix is kept) or `host:port`. Default: `MIKO_ADDRESS`. */
  readonly address?: string | undefined
  /** Bearer token sent to Miko. Default: `MIKO_TOKEN`; `""` sends none even when it is set. */
  readonly token?: string | undefined
  /** `public` (default) or `internal`: internal addresses need a token with the internal role; endpoints without one fall back to their public address. */
  readonly addressKind?: AddressKind | undefined
  /** The caller's zone: `zone-first` (the default once a zone is set) prefers endpoints in it. */
  readonly zone?: string | undefined
  /** Default `round-robin`, or `zone-first` when `zone` is set. */
  readonly strategy?: Strategy | undefined
  /** Follow only these services (Miko's `service` filter). Default: every service the token may see. */
  readonly services?: ReadonlyArray<string> | undefined
  /** Bound on each ordinary call to Miko (the first list, registrations, heartbeats). Default 10s. */
  readonly timeout?: DurationOption | undefined
  /** How long each background long-poll asks Miko to hold (Miko caps it with `registry.maxWait`). Default 30s. */
  readonly wait?: DurationOption | undefined
  /** Retry delays while Miko is unreachable, growing from `min` to `max` with jitter. Default 200ms to 5s. */
  readonly backoff?: { readonly min?: DurationOption | undefined; readonly max?: DurationOption | undefined } | undefined
  /** How long an endpoint that failed a request is skipped, unless Miko reports it passing again first. Default 10s. */
  readonly cooldown?: DurationOption | undefined
  /** Most endpoints one request is tried on. Default 3; 1 turns failover off. */
  readonly maxAttempts?: number | undefined
  /** How long one attempt may wait for a response before it counts as failed. Default 10s; 0 turns it off. */
  readonly attemptTimeout?: DurationOption | undefined
  /** TLS settings; without them the platform's `fetch` and its defaults are used. */
  readonly tls?: TlsOptions | undefined
  /**
   * `true` fails a lookup with `NoHealthyEndpoint` when no endpoint of the service is passing.
   * Default `false`: panic mode, where the client then chooses among the endpoints that are not
   * passing, as the strategy would among passing ones (see `panicServices`).
   */
  readonly strict?: boolean | undefined
}

/** The options with defaults applied and checked. */
export interface ResolvedOptions {
  /** Miko's base URL, without a trailing slash. */
  readonly address: string
  readonly token: string | undefined
  readonly addressKind: AddressKind
  readonly zone: string | undefined
  readonly strategy: Strategy
  readonly services: ReadonlyArray<string>
  readonly timeout: Duration.Duration
  readonly wait: Duration.Duration
  readonly backoffMin: Duration.Duration
  readonly backoffMax: Duration.Duration
  readonly cooldown: Duration.Duration
  readonly maxAttempts: number
  readonly attemptTimeout: Duration.Duration | undefined
  readonly tls: TlsOptions | undefined
  readonly strict: boolean
}

const unitMillis: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const mikoDuration = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/

/** Reads a duration option; `undefined` when it is not one. */
export const decodeDuration = (input: DurationOption): Duration.Duration | undefined => {
  if (typeof input === "string" && mikoDuration.test(input.trim())) {
    let millis = 0
    for (const match of input.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)) millis += Number(match[1]) * (unitMillis[match[2] ?? "ms"] ?? 1)
    return Duration.millis(millis)
  }
  if (typeof input === "number") return Number.isFinite(input) && input >= 0 ? Duration.millis(input) : undefined
  return Option.getOrUndefined(Duration.decodeUnknown(input))
}

/** Miko's notation for a duration on the wire: whole milliseconds. */
export const formatDuration = (duration: Duration.Duration): string => `${Math.max(1, Math.round(Duration.toMillis(duration)))}ms`

const fromEnv = (name: string) =>
  Config.option(Config.string(name)).pipe(
    Effect.map(Option.getOrUndefined),
    Effect.orElseSucceed(() => undefined)
  )

/**
 * Checks the options and fills in defaults; `address` and `token` fall back to `MIKO_ADDRESS` and
 * `MIKO_TOKEN` through Effect's `ConfigProvider` (the environment by default).
 */
export const resolveOptions = (options: MikoClientOptions = {}): Effect.Effect<ResolvedOptions, InvalidMikoAddress | InvalidMikoOptions> =>
  Effect.gen(function*() {
    const address = options.address ?? (yield* fromEnv("MIKO_ADDRESS")) ?? ""
    const base = parseMikoAddress(address)
    if (Either.isLeft(base)) return yield* base.left
    const token = options.token ?? (yield* fromEnv("MIKO_TOKEN"))

    const invalid = (option: string, message: string) => new InvalidMikoOptions({ option, message: `${option}: ${message}` })
    const duration = (option: string, input: DurationOption | undefined, fallback: Duration.Duration) => {
      if (input === undefined) return Effect.succeed(fallback)
      const decoded = decodeDuration(input)
      return decoded === undefined
        ? Effect.fail(invalid(option, `expected a duration such as 500 (milliseconds), "10s" or "10 seconds", found ${JSON.stringify(input)}`))
        : Effect.succeed(decoded)
    }

    const addressKind = options.addressKind ?? "public"
    if (addressKind !== "public" && addressKind !== "internal") return yield* invalid("addressKind", `expected "public" or "internal", found ${JSON.stringify(addressKind)}`)
    const zone = options.zone === undefined || options.zone === "" ? undefined : options.zone
    const strategy = options.strategy ?? (zone === undefined ? "round-robin" : "zone-first")
    if (strategy !== "round-robin" && strategy !== "weighted-random" && strategy !== "zone-first") {
      return yield* invalid("strategy", `expected "round-robin", "weighted-random" or "zone-first", found ${JSON.stringify(strategy)}`)
    }
    const services = options.services ?? []
    const badService = services.find((name) => !isServiceName(name))
    if (badService !== undefined) return yield* invalid("services", `${JSON.stringify(badService)} is not a service name (a DNS label)`)
    const strict = options.strict ?? false
    if (typeof strict !== "boolean") return yield* invalid("strict", `expected true or false, found ${JSON.stringify(strict)}`)
    const maxAttempts = options.maxAttempts ?? 3
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) return yield* invalid("maxAttempts", `expected a whole number of at least 1, found ${maxAttempts}`)

    const timeout = yield* duration("timeout", options.timeout, Duration.seconds(10))
    const wait = yield* duration("wait", options.wait, Duration.seconds(30))
    const backoffMin = yield* duration("backoff.min", options.backoff?.min, Duration.millis(200))
    const backoffMax = yield* duration("backoff.max", options.backoff?.max, Duration.max(Duration.seconds(5), backoffMin))
    if (Duration.lessThan(backoffMax, backoffMin)) return yield* invalid("backoff.max", "must not be shorter than backoff.min")
    const cooldown = yield* duration("cooldown", options.cooldown, Duration.seconds(10))
    const attemptTimeout = yield* duration("attemptTimeout", options.attemptTimeout, Duration.seconds(10))
    for (const [name, value] of [["timeout", timeout], ["wait", wait], ["backoff.min", backoffMin]] as const) {
      if (Duration.toMillis(value) <= 0) return yield* invalid(name, "must be longer than zero")
    }

    return {
      address: base.right,
      token: token === undefined || token.trim() === "" ? undefined : token.trim(),
      addressKind,
      zone,
      strategy,
      services,
      timeout,
      wait,
      backoffMin,
      backoffMax,
      cooldown,
      maxAttempts,
      attemptTimeout: Duration.toMillis(attemptTimeout) > 0 ? attemptTimeout : undefined,
      tls: options.tls,
      strict
    } satisfies ResolvedOptions
  })
