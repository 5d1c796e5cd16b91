/**
 * The configuration view without Effect: synchronous reads of the local copy, change listeners
 * and an async iterator, and Promise writes. It runs the Effect view in the client's runtime.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { InvalidConfigValue } from "./errors.js"
import type { DeleteOptions, SetOptions } from "./kv-api.js"
import type { ConfigChange, ConfigEntry, ConfigSnapshot, MikoConfig } from "./kv-config.js"
import type { KvWritten } from "./wire.js"

export interface MikoPromiseConfig {
  /** The prefix the view follows; keys of reads and writes are relative to it. */
  readonly prefix: string
  /** Resolves once a copy is at hand; rejects with the first attempt's error otherwise (`KvForbidden` for a denied prefix). */
  readonly ready: () => Promise<void>
  /** A key's plain JSON value from the local copy; `fallback` when it is absent or no copy is at hand yet. */
  readonly get: (key: string, fallback?: unknown) => unknown
  /** A key's value decoded with `schema`, or `fallback`; throws `InvalidConfigValue` when it does not match. */
  readonly read: <A, I>(key: string, schema: Schema.Schema<A, I>, fallback: A) => A
  readonly entry: (key: string) => ConfigEntry | undefined
  /** The whole copy by relative key (empty before the first one). */
  readonly entries: () => ReadonlyMap<string, ConfigEntry>
  /** Calls `listener` with every change from now on; the returned function stops it. */
  readonly onChange: (listener: (change: ConfigChange) => void) => () => void
  /** The changes from now on, as an async iterator; it ends when the view closes. */
  readonly changes: () => AsyncIterable<ConfigChange>
  /** Writes `value` (any JSON); `ifVersion` (compare-and-set) and `create` reject with `KvVersionConflict` when they do not hold. */
  readonly set: (key: string, value: unknown, options?: SetOptions) => Promise<KvWritten>
  /** Deletes the key; `KvKeyNotFound` when it is not there. */
  readonly delete: (key: string, options?: DeleteOptions) => Promise<KvWritten>
  /** True until the first copy, and whenever the last refresh failed (reads then answer from the last good copy). */
  readonly stale: () => boolean
  readonly lastUpdated: () => Date | undefined
  /** The change index of the copy at hand. */
  readonly index: () => number | undefined
  /** Stops following the prefix (the client's `close()` does it too). */
  readonly close: () => Promise<void>
}

export interface PromiseConfigParts<R> {
  readonly runtime: ManagedRuntime.ManagedRuntime<R, never>
  /** The Effect view, once built; rejects when the client closed first. */
  readonly view: Promise<MikoConfig>
  /** Runs a call of the view, rejecting with the SDK's errors (or `MikoClientClosed`). */
  readonly run: <A, E>(f: (view: MikoConfig) => Effect.Effect<A, E>) => Promise<A>
  readonly close: () => Promise<void>
}

export const makePromiseConfig = <R>(prefix: string, parts: PromiseConfigParts<R>): MikoPromiseConfig => {
  const { runtime } = parts
  let built: MikoConfig | undefined
  parts.view.then((view) => (built = view), () => undefined)

  /** Synchronous reads of the view's state; `fallback` before it is built. */
  const peek = <A>(f: (view: MikoConfig) => Effect.Effect<A>, fallback: A): A => (built === undefined ? fallback : runtime.runSync(f(built)))
  const latest = (): ConfigSnapshot | undefined => peek((view) => Effect.map(view.latest, Option.getOrUndefined), undefined)
  const entry = (key: string) => latest()?.entries.get(key)

  const onChange = (listener: (change: ConfigChange) => void) => {
    // A listener that throws is reported and kept: one bad change must not stop the others.
    const each = (change: ConfigChange) =>
      Effect.catchAllCause(Effect.try(() => listener(change)), (cause) => Effect.logWarning("a configuration listener failed", cause))
    const fiber = parts.view.then((view) => runtime.runFork(Stream.runForEach(view.changes, each)))
    fiber.catch(() => undefined)
    return () => {
      void fiber.then((running) => runtime.runPromise(Fiber.interrupt(running))).catch(() => undefined)
    }
  }

  return {
    prefix,
    ready: () => parts.run((view) => view.ready),
    get: (key, fallback) => {
      const found = entry(key)
      return found !== undefined && "value" in found ? found.value : fallback
    },
    read: (key, schema, fallback) => {
      const found = entry(key)
      if (found === undefined || !("value" in found)) return fallback
      const decoded = Schema.decodeUnknownEither(schema)(found.value)
      if (Either.isRight(decoded)) return decoded.right
      throw new InvalidConfigValue({ key, message: `${JSON.stringify(prefix + key)} does not match: ${decoded.left.message}` })
    },
    entry,
    entries: () => latest()?.entries ?? new Map(),
    onChange,
    changes: () => ({
      async *[Symbol.asyncIterator](): AsyncGenerator<ConfigChange> {
        const view = await parts.view
        yield* Stream.toAsyncIterableRuntime<ConfigChange, R>(await runtime.runtime())(view.changes)
      }
    }),
    set: (key, value, options) => parts.run((view) => view.set(key, value, options)),
    delete: (key, options) => parts.run((view) => view.delete(key, options)),
    stale: () => peek((view) => view.stale, true),
    lastUpdated: () => Option.getOrUndefined(peek((view) => view.lastUpdated, Option.none())),
    index: () => latest()?.index,
    close: parts.close
  }
}
