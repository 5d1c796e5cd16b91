import { describe, expect, it } from "vitest"
import * as Either from "effect/Either"
import * as Duration from "effect/Duration"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import {
  configKeys,
  defaultConfig,
  parseConfigText,
  readEnv,
  resolveConfig,
  stripJsonComments
} from "../../src/config/index.js"
import { repoRoot } from "../support/miko.js"

const resolve = (file: unknown, env: Record<string, string> = {}, runtime: Record<string, unknown> = {}) =>
  resolveConfig({
    file: { origin: "config file /etc/miko/config.yaml", value: file },
    env: Either.getOrThrow(readEnv(env)),
    runtime: new Map(Object.entries(runtime))
  })

const problems = (result: ReturnType<typeof resolve>) => Either.isLeft(result) ? result.left.join("\n") : "no problems"

describe("config schema and defaults", () => {
  it("the shipped config.yaml decodes to exactly the Schema defaults", () => {
    const path = join(repoRoot, "config.yaml")
    const parsed = Either.getOrThrow(parseConfigText(path, readFileSync(path, "utf8")))
    const result = resolve(parsed)
    expect(problems(result)).toBe("no problems")
    expect(Either.getOrThrow(result).config).toEqual(defaultConfig())
  })

  it("every key has a description", () => {
    for (const key of configKeys) expect(key.description, key.dotted).not.toBe("")
  })

  it("defaults listen on 127.0.0.1:8740", () => {
    expect(defaultConfig().http).toMatchObject({ host: "127.0.0.1", port: 8740 })
  })

  it("names environment variables MIKO_ + SNAKE_CASE path joined by __", () => {
    const names = new Map(configKeys.map((key) => [key.dotted, key.envVar]))
    expect(names.get("http.port")).toBe("MIKO_HTTP__PORT")
    expect(names.get("scheduler.maxRunningTasks")).toBe("MIKO_SCHEDULER__MAX_RUNNING_TASKS")
  })
})

describe("precedence: defaults < file < environment < runtime", () => {
  it("each source overrides the one below and is reported", () => {
    const result = Either.getOrThrow(resolve(
      { scheduler: { maxRunningTasks: 2, historyRetention: 5 }, http: { port: 9100 } },
      { MIKO_SCHEDULER__MAX_RUNNING_TASKS: "4", MIKO_GENERAL__LOG_LEVEL: "debug" },
      { "scheduler.maxRunningTasks": 6 }
    ))
    expect(result.config.scheduler.maxRunningTasks).toBe(6)
    expect(result.sources["scheduler.maxRunningTasks"]).toBe("runtime")
    expect(result.config.general.logLevel).toBe("debug")
    expect(result.sources["general.logLevel"]).toBe("env")
    expect(result.config.http.port).toBe(9100)
    expect(result.sources["http.port"]).toBe("file")
    expect(result.config.scheduler.historyRetention).toBe(5)
    expect(result.config.http.host).toBe("127.0.0.1")
    expect(result.sources["http.host"]).toBe("default")
  })

  it("environment values are parsed as JSON where the key is not a string", () => {
    const result = Either.getOrThrow(resolve({}, {
      MIKO_HTTP__PORT: "9000",
      MIKO_REGISTRY__PUBLIC_READ: "false",
      MIKO_GENERAL__SHUTDOWN_TIMEOUT: "30s",
      MIKO_AUTH__TOKENS: JSON.stringify([{ name: "ops", secret: "0123456789abcdef", roles: ["admin"] }])
    }))
    expect(result.config.http.port).toBe(9000)
    expect(result.config.registry.publicRead).toBe(false)
    expect(Duration.toMillis(result.config.general.shutdownTimeout)).toBe(30_000)
    expect(result.config.auth.tokens[0]?.name).toBe("ops")
  })
})

describe("bad configuration names the source, the key, what was expected and what was found", () => {
  it("a wrong type in the file", () => {
    const text = problems(resolve({ http: { port: "eighty" } }))
    expect(text).toContain("config file /etc/miko/config.yaml")
    expect(text).toContain("http.port")
    expect(text).toContain("Expected")
    expect(text).toContain("\"eighty\"")
  })

  it("an unknown key, with the nearest valid key", () => {
    const text = problems(resolve({ scheduler: { maxRunningTask: 3 } }))
    expect(text).toContain("unknown key \"scheduler.maxRunningTask\"")
    expect(text).toContain("did you mean \"scheduler.maxRunningTasks\"")
  })

  it("an unknown section", () => {
    expect(problems(resolve({ registy: {} }))).toContain("did you mean \"registry\"")
  })

  it("a section that is not a mapping", () => {
    expect(problems(resolve({ http: 8080 }))).toContain("http: expected a mapping of keys, found number 8080")
  })

  it("a bad environment variable names the variable", () => {
    const text = problems(resolve({}, { MIKO_HTTP__PORT: "abc" }))
    expect(text).toContain("environment variable MIKO_HTTP__PORT")
    expect(text).toContain("http.port")
  })

  it("an unknown MIKO_ variable is an error with a suggestion", () => {
    const result = readEnv({ MIKO_HTTP__PROT: "1" })
    expect(Either.isLeft(result) && result.left[0]).toContain("did you mean \"MIKO_HTTP__PORT\"")
  })

  it("a bad duration, an out-of-range port, an unknown enum value", () => {
    const text = problems(resolve({ general: { shutdownTimeout: "soon", logFormat: "xml" }, http: { port: 70000 } }))
    expect(text).toContain("general.shutdownTimeout")
    expect(text).toContain("\"soon\"")
    expect(text).toContain("general.logFormat")
    expect(text).toContain("\"xml\"")
    expect(text).toContain("http.port")
  })

  it("a token with no secret source, and an unexpected field inside a token", () => {
    const text = problems(resolve({ auth: { tokens: [{ name: "a", roles: ["admin"] }, { name: "b", secret: "0123456789abcdef", roles: ["admin"], rolez: [] }] } }))
    expect(text).toContain("exactly one of secret, secretEnv or secretFile")
    expect(text).toContain("auth.tokens.1.rolez")
  })

  it("a static endpoint without an address or with a bad one", () => {
    const text = problems(resolve({ registry: { static: { web: [{ protocol: "http" }, { publicAddress: "not a url" }] } } }))
    expect(text).toContain("registry.static.web.0")
    expect(text).toContain("at least one of publicAddress or internalAddress")
    expect(text).toContain("\"not a url\"")
  })
})

describe("config file formats", () => {
  it("JSON with // and /* */ comments; markers inside strings are kept", () => {
    const text = `{
      // the HTTP section
      "http": { "publicUrl": "http://example.com/a//b", /* inline */ "port": 9001 },
      "general": { "dataDir": "/var/lib/miko/*not-a-comment*/" }
    }`
    const parsed = Either.getOrThrow(parseConfigText("/x/config.json", text))
    expect(parsed).toEqual({ http: { publicUrl: "http://example.com/a//b", port: 9001 }, general: { dataDir: "/var/lib/miko/*not-a-comment*/" } })
    expect(stripJsonComments("\"a\\\"//b\" // c")).toBe("\"a\\\"//b\" ")
  })

  it("invalid JSON names the file and the position", () => {
    const result = parseConfigText("/x/config.json", "{\n  \"http\": { \"port\": 1,, }\n}")
    expect(Either.isLeft(result) && result.left).toMatch(/config file \/x\/config\.json: invalid JSON at line 2/)
  })

  it("invalid YAML names the file and the line", () => {
    const result = parseConfigText("/x/config.yaml", "http:\n  port: 1\n port: 2\n")
    expect(Either.isLeft(result) && result.left).toMatch(/config file \/x\/config\.yaml: invalid YAML at line \d+/)
  })

  it("an empty file is the defaults", () => {
    expect(Either.getOrThrow(parseConfigText("/x/config.yaml", "# nothing\n"))).toEqual({})
  })
})
