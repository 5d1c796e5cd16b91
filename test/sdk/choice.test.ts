import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import { httpTarget, parseMikoAddress, resolveUrl, serviceUrl } from "../../sdk/ts/src/address.js"
import { buildSnapshot, choose, type ChooseInput, clearMarks, mark, type Marks, type ServiceEntry } from "../../sdk/ts/src/directory.js"
import { resolveOptions } from "../../sdk/ts/src/options.js"
import type { Endpoint, EndpointList } from "../../sdk/ts/src/wire.js"

const endpoint = (id: string, extra: Partial<Endpoint> = {}): Endpoint => ({
  id,
  service: "web",
  publicAddress: `http://10.0.0.${id.slice(-1)}:8080`,
  protocol: "http",
  weight: 1,
  tags: [],
  metadata: {},
  status: "passing",
  source: "registered",
  registeredAt: "2025-01-01T00:00:00.000Z",
  lastSeenAt: "2025-01-01T00:00:00.000Z",
  ...extra
})

const list = (index: number, endpoints: ReadonlyArray<Endpoint>): EndpointList => ({ index, services: { web: endpoints } })
const entryOf = (endpoints: ReadonlyArray<Endpoint>): ServiceEntry => buildSnapshot(list(1, endpoints), "public", false).services.get("web")!

const input = (extra: Partial<ChooseInput> = {}): ChooseInput => ({
  strategy: "round-robin",
  zone: undefined,
  marks: HashMap.empty(),
  now: 1_000,
  tried: undefined,
  turn: 0,
  random: 0,
  ...extra
})

describe("Miko's address", () => {
  it("accepts URLs and host:port, keeping a path prefix without the trailing slash", () => {
    expect(parseMikoAddress("http://127.0.0.1:8740")).toEqual(Either.right("http://127.0.0.1:8740"))
    expect(parseMikoAddress("https://miko.example.com/base/")).toEqual(Either.right("https://miko.example.com/base"))
    expect(parseMikoAddress("miko.internal:8740")).toEqual(Either.right("http://miko.internal:8740"))
    expect(parseMikoAddress("[::1]:8740")).toEqual(Either.right("http://[::1]:8740"))
  })

  it("rejects malformed addresses with InvalidMikoAddress naming the address", () => {
    for (const bad of ["", "   ", "not an address", "miko", "ftp://miko:21", "http://", "http://host:99999", "http://host:", "http://u:p@host:1", "http://host:1/?q=1", "host:port"]) {
      const parsed = parseMikoAddress(bad)
      expect(Either.isLeft(parsed), bad).toBe(true)
      if (Either.isLeft(parsed)) {
        expect(parsed.left._tag).toBe("InvalidMikoAddress")
        expect(parsed.left.address).toBe(bad)
      }
    }
  })
})

describe("service URLs", () => {
  it("a single-label host without a port names a service; other URLs are left alone", () => {
    expect(serviceUrl("http://web/users/1?x=2")).toEqual({ service: "web", scheme: "http", rest: "/users/1?x=2" })
    expect(serviceUrl("https://billing-api")).toEqual({ service: "billing-api", scheme: "https", rest: "/" })
    expect(serviceUrl("http://web:8080/")).toBeUndefined()
    expect(serviceUrl("http://api.example.com/")).toBeUndefined()
    expect(serviceUrl("http://127.0.0.1/")).toBeUndefined()
    expect(serviceUrl("/relative")).toBeUndefined()
  })

  it("resolve against the endpoint's address: scheme, host, port and path prefix", () => {
    const url = serviceUrl("http://web/users?id=1")!
    expect(resolveUrl(httpTarget("http://10.0.0.5:8080", "http")!, url)).toBe("http://10.0.0.5:8080/users?id=1")
    expect(resolveUrl(httpTarget("https://web-1.example.com/api/", "http")!, url)).toBe("https://web-1.example.com/api/users?id=1")
    expect(resolveUrl(httpTarget("10.0.0.5:8443", "https")!, url)).toBe("https://10.0.0.5:8443/users?id=1")
    expect(resolveUrl(httpTarget("10.0.0.5:9000", "tcp")!, url)).toBe("http://10.0.0.5:9000/users?id=1")
  })
})

describe("choosing an endpoint", () => {
  const three = entryOf([endpoint("web-1"), endpoint("web-2"), endpoint("web-3")])

  it("round-robin takes the passing endpoints in turn", () => {
    const ids = [0, 1, 2, 3, 4, 5].map((turn) => choose(three, input({ turn }))!.endpoint.id)
    expect(ids).toEqual(["web-1", "web-2", "web-3", "web-1", "web-2", "web-3"])
  })

  it("only passing endpoints with an address of the client's kind are candidates", () => {
    const { publicAddress: _, ...internalOnly } = { ...endpoint("web-4"), internalAddress: "10.1.0.4:80" }
    const mixed = buildSnapshot(
      list(1, [endpoint("web-1", { status: "critical" }), endpoint("web-2", { status: "warning" }), endpoint("web-3"), internalOnly]),
      "public",
      false
    ).services.get("web")!
    expect(mixed.endpoints).toHaveLength(4)
    expect(mixed.candidates.map((c) => c.endpoint.id)).toEqual(["web-3"])
    expect(mixed.panic).toBe(false)
    const internal = buildSnapshot(list(1, [endpoint("web-3"), { ...endpoint("web-4"), internalAddress: "10.1.0.4:80" }]), "internal", false).services.get("web")!
    expect(internal.candidates.map((c) => c.address)).toEqual(["http://10.0.0.3:8080", "10.1.0.4:80"])
  })

  it("with no passing endpoint, the others with an address are candidates (panic mode), unless strict", () => {
    const { publicAddress: _, ...internalOnly } = { ...endpoint("web-4", { status: "critical" }), internalAddress: "10.1.0.4:80" }
    const down = list(1, [endpoint("web-1", { status: "critical" }), endpoint("web-2", { status: "warning" }), internalOnly])
    const panicking = buildSnapshot(down, "public", false)
    expect(panicking.panic).toEqual(["web"])
    expect(panicking.services.get("web")!.panic).toBe(true)
    expect(panicking.services.get("web")!.candidates.map((c) => c.endpoint.id)).toEqual(["web-1", "web-2"])
    const strict = buildSnapshot(down, "public", true)
    expect(strict.panic).toEqual([])
    expect(strict.services.get("web")!.candidates).toEqual([])
    // Zone and weights apply to them as usual.
    const zoned = entryOf([endpoint("web-1", { status: "critical", zone: "eu-1" }), endpoint("web-2", { status: "critical", zone: "eu-2", weight: 0 }), endpoint("web-3", { status: "critical", zone: "eu-2" })])
    expect([0, 1, 2].map((turn) => choose(zoned, input({ strategy: "zone-first", zone: "eu-2", turn }))!.endpoint.id)).toEqual(["web-3", "web-3", "web-3"])
  })

  it("weight 0 drains an endpoint: it is chosen only when nothing else is left", () => {
    const draining = entryOf([endpoint("web-1", { weight: 0 }), endpoint("web-2"), endpoint("web-3")])
    const ids = [0, 1, 2, 3].map((turn) => choose(draining, input({ turn }))!.endpoint.id)
    expect(ids).toEqual(["web-2", "web-3", "web-2", "web-3"])
    const marks = [endpoint("web-2"), endpoint("web-3")].reduce((m: Marks, e) => mark(m, e, 5_000), HashMap.empty())
    expect(choose(draining, input({ marks }))!.endpoint.id).toBe("web-1")
  })

  it("weighted random picks in proportion to weight; weight 0 only when all are 0", () => {
    const weighted = entryOf([endpoint("web-1", { weight: 3 }), endpoint("web-2", { weight: 1 }), endpoint("web-3", { weight: 0 })])
    const counts: Record<string, number> = {}
    for (let i = 0; i < 400; i++) {
      const id = choose(weighted, input({ strategy: "weighted-random", random: i / 400 }))!.endpoint.id
      counts[id] = (counts[id] ?? 0) + 1
    }
    expect(counts).toEqual({ "web-1": 300, "web-2": 100 })
    const zeros = entryOf([endpoint("web-1", { weight: 0 }), endpoint("web-2", { weight: 0 })])
    expect(choose(zeros, input({ strategy: "weighted-random", random: 0.75 }))!.endpoint.id).toBe("web-2")
  })

  it("zone-first prefers the client's zone and falls back to the others", () => {
    const zoned = entryOf([endpoint("web-1", { zone: "eu-1" }), endpoint("web-2", { zone: "eu-2" }), endpoint("web-3", { zone: "eu-2" })])
    const ids = [0, 1, 2, 3].map((turn) => choose(zoned, input({ strategy: "zone-first", zone: "eu-2", turn }))!.endpoint.id)
    expect(ids).toEqual(["web-2", "web-3", "web-2", "web-3"])
    expect(choose(zoned, input({ strategy: "zone-first", zone: "us-1" }))!.endpoint.id).toBe("web-1")
  })

  it("skips endpoints marked down until the cool-down ends, and tries them when nothing else is left", () => {
    const marks = mark(HashMap.empty(), endpoint("web-2"), 5_000)
    const ids = [0, 1, 2, 3].map((turn) => choose(three, input({ marks, turn }))!.endpoint.id)
    expect(ids).not.toContain("web-2")
    expect(choose(three, input({ marks, now: 5_000, turn: 1 }))!.endpoint.id).toBe("web-2")
    const allDown = [endpoint("web-1"), endpoint("web-2"), endpoint("web-3")].reduce((m: Marks, e) => mark(m, e, 5_000), HashMap.empty())
    expect(choose(three, input({ marks: allDown }))).toBeDefined()
  })

  it("a request prefers endpoints it has not tried yet", () => {
    expect(choose(three, input({ tried: new Set(["web/web-1", "web/web-2"]) }))!.endpoint.id).toBe("web-3")
    expect(choose(three, input({ tried: new Set(["web/web-1", "web/web-2", "web/web-3"]) }))).toBeDefined()
  })
})

describe("circuit-breaker marks and new lists", () => {
  const marked = mark(HashMap.empty(), endpoint("web-1"), 10_000)
  const before = buildSnapshot(list(1, [endpoint("web-1"), endpoint("web-2")]), "public", false)

  it("an unrelated change keeps the mark of an endpoint that was already passing", () => {
    const next = buildSnapshot(list(2, [endpoint("web-1"), endpoint("web-2"), endpoint("web-3")]), "public", false)
    expect(HashMap.size(clearMarks(marked, before, next, 1_000))).toBe(1)
  })

  it("news of it passing again clears the mark: a status change to passing, or a newer lastSeenAt", () => {
    const critical = buildSnapshot(list(2, [endpoint("web-1", { status: "critical" }), endpoint("web-2")]), "public", false)
    expect(HashMap.size(clearMarks(marked, before, critical, 1_000))).toBe(1)
    const passingAgain = buildSnapshot(list(3, [endpoint("web-1"), endpoint("web-2")]), "public", false)
    expect(HashMap.size(clearMarks(marked, critical, passingAgain, 1_000))).toBe(0)
    const heardFrom = buildSnapshot(list(3, [endpoint("web-1", { lastSeenAt: "2025-01-01T00:00:05.000Z" }), endpoint("web-2")]), "public", false)
    expect(HashMap.size(clearMarks(marked, before, heardFrom, 1_000))).toBe(0)
  })

  it("drops marks of endpoints that left the list and marks whose cool-down ended", () => {
    const gone = buildSnapshot(list(2, [endpoint("web-2")]), "public", false)
    expect(HashMap.size(clearMarks(marked, before, gone, 1_000))).toBe(0)
    expect(HashMap.size(clearMarks(marked, before, before, 10_000))).toBe(0)
  })
})

describe("options", () => {
  it.effect("take the address and token from MIKO_ADDRESS and MIKO_TOKEN, with defaults", () =>
    Effect.gen(function*() {
      const resolved = yield* resolveOptions({}).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["MIKO_ADDRESS", "127.0.0.1:9999"], ["MIKO_TOKEN", "secret-token"]])))
      )
      expect(resolved).toMatchObject({ address: "http://127.0.0.1:9999", token: "secret-token", addressKind: "public", strategy: "round-robin", maxAttempts: 3, strict: false })
      expect(Duration.toMillis(resolved.cooldown)).toBe(10_000)
      const noToken = yield* resolveOptions({ token: "", zone: "eu-1", attemptTimeout: 0, wait: "1m30s" }).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["MIKO_ADDRESS", "127.0.0.1:9999"], ["MIKO_TOKEN", "secret-token"]])))
      )
      expect(noToken).toMatchObject({ token: undefined, strategy: "zone-first", attemptTimeout: undefined })
      expect(Duration.toMillis(noToken.wait)).toBe(90_000)
    }))

  it.effect("without any address, or with bad values, fail with specific errors", () =>
    Effect.gen(function*() {
      const none = yield* Effect.flip(resolveOptions({}).pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))))
      expect(none._tag).toBe("InvalidMikoAddress")
      expect(none.message).toContain("MIKO_ADDRESS")
      const strategy = yield* Effect.flip(resolveOptions({ address: "127.0.0.1:1", strategy: "random" as "round-robin" }))
      expect(strategy).toMatchObject({ _tag: "InvalidMikoOptions", option: "strategy" })
      const timeout = yield* Effect.flip(resolveOptions({ address: "127.0.0.1:1", timeout: "soon" as "1s" }))
      expect(timeout).toMatchObject({ _tag: "InvalidMikoOptions", option: "timeout" })
      const attempts = yield* Effect.flip(resolveOptions({ address: "127.0.0.1:1", maxAttempts: 0 }))
      expect(attempts).toMatchObject({ _tag: "InvalidMikoOptions", option: "maxAttempts" })
      const strict = yield* Effect.flip(resolveOptions({ address: "127.0.0.1:1", strict: "yes" as unknown as boolean }))
      expect(strict).toMatchObject({ _tag: "InvalidMikoOptions", option: "strict" })
    }))
})
