import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { resolveConfig } from "../../src/config/index.js"
import { parseCron, Scheduler, TaskSpec } from "../../src/scheduler/index.js"
import { layerScheduler, withScheduler } from "./support.js"

const decode = Schema.decodeUnknownEither(TaskSpec, { errors: "all" })

const problems = (input: unknown): string =>
  Either.match(decode(input), {
    onLeft: (error) => ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) => `${issue.path.join(".")}: ${issue.message}`).join(" | "),
    onRight: () => "valid"
  })

const task = (fields: Record<string, unknown>) => ({
  name: "ping",
  kind: "http",
  http: { url: "http://127.0.0.1:9000/" },
  triggers: [{ every: "1m" }],
  ...fields
})

describe("cron expressions", () => {
  it("name the position and field of the bad part", () => {
    expect(Either.getLeft(parseCron("0 61 * * *"))._tag === "Some").toBe(true)
    expect(Either.getOrElse(Either.flip(parseCron("0 61 * * *")), () => "")).toContain("field 2 (hour) \"61\"")
    expect(Either.getOrElse(Either.flip(parseCron("61 * * * * *")), () => "")).toContain("field 1 (second) \"61\"")
    expect(Either.getOrElse(Either.flip(parseCron("* * * * 1-9")), () => "")).toContain("field 5 (day of week) \"1-9\"")
    expect(Either.getOrElse(Either.flip(parseCron("0 0 * 13 *")), () => "")).toContain("field 4 (month) \"13\"")
    expect(Either.getOrElse(Either.flip(parseCron("* * *")), () => "")).toContain("found 3")
    expect(Either.getOrElse(Either.flip(parseCron("0 * * * *", "Mars/Olympus")), () => "")).toContain("unknown time zone \"Mars/Olympus\"")
    expect(Either.isRight(parseCron("0 */5 * * * *", "Europe/Berlin"))).toBe(true)
  })
})

describe("a task declaration (HTTP body and config entry)", () => {
  it("accepts the documented example", () => {
    expect(problems({
      name: "ping",
      kind: "http",
      http: { method: "GET", url: "http://127.0.0.1:9000/" },
      triggers: [{ every: "1s" }, { cron: "0 */5 * * * *", timezone: "Europe/Berlin" }, { event: "deploy" }, { delay: "10m" }],
      priority: 5,
      retry: { maxRetries: 3, backoff: "exponential", delay: "1s" }
    })).toBe("valid")
  })

  it.each([
    ["an invalid cron, with the field's position", { triggers: [{ cron: "0 61 * * *" }] }, "triggers.0: cron: field 2 (hour) \"61\""],
    ["a cron that never matches", { triggers: [{ cron: "0 0 31 2 *" }] }, "never matches"],
    ["an unknown time zone", { triggers: [{ cron: "0 3 * * *", timezone: "Europe/Atlantis" }] }, "triggers.0: timezone: unknown time zone"],
    ["a zero interval", { triggers: [{ every: "0s" }] }, "triggers.0: every: Expected a duration greater than zero"],
    ["a negative interval", { triggers: [{ every: "-5s" }] }, "triggers.0: every: Expected a duration such as"],
    ["an unknown trigger type", { triggers: [{ when: "tomorrow" }] }, "Expected a trigger with one of every, cron, event, kvChanged, delay, at, found keys [\"when\"]"],
    ["two trigger types in one entry", { triggers: [{ every: "1s", event: "x" }] }, "Expected one kind of trigger per entry, found every and event"],
    ["no trigger", { triggers: [] }, "triggers: Expected at least one trigger"],
    ["retries out of range", { retry: { maxRetries: 101 } }, "retry.maxRetries: Expected a whole number of retries from 0 to 100, found 101"],
    ["negative retries", { retry: { maxRetries: -1 } }, "retry.maxRetries: Expected a whole number of retries from 0 to 100"],
    ["an unknown backoff", { retry: { backoff: "linear" } }, "retry.backoff"],
    ["a bad URL", { http: { url: "localhost:9000" } }, "http.url: Expected an http:// or https:// URL"],
    ["a body with GET", { http: { url: "http://a.example/", body: "{}" } }, "http.body: Expected no body with GET"],
    ["a bad header name", { http: { url: "http://a.example/", headers: { "bad header": "x" } } }, "Expected an HTTP header name"],
    ["an unknown kind", { kind: "shell" }, "kind: Expected a task kind of \"http\", found \"shell\""],
    ["a misspelt field", { priorty: 5 }, "priorty: is unexpected"],
    ["a priority out of range", { priority: 5000 }, "priority"],
    ["a window that ends before it starts", { triggers: [{ every: "1m", startAt: "2030-01-02T00:00:00Z", endAt: "2030-01-01T00:00:00Z" }] }, "endAt: Expected endAt to be after startAt"],
    ["an instant that is not one", { triggers: [{ at: "next tuesday" }] }, "triggers.0: at: Expected an ISO 8601 instant"],
    ["a bad event name", { triggers: [{ event: "has space" }] }, "triggers.0: event: Expected an event name"],
    ["a bad task name", { name: "../etc" }, "name: Expected a task name"]
  ])("rejects %s", (_, fields, message) => {
    expect(problems(task(fields))).toContain(message)
  })

  it("in config.yaml, a bad task stops the start with the key and the problem; duplicate names too", () => {
    const resolve = (tasks: unknown) =>
      resolveConfig({ file: { origin: "config file miko.yaml", value: { scheduler: { tasks } } }, env: new Map(), runtime: new Map() })
    const bad = resolve([task({ triggers: [{ cron: "* * * * 8" }] })])
    expect(Either.isLeft(bad) && bad.left.join("\n")).toContain(
      "config file miko.yaml: scheduler.tasks.0.triggers.0: cron: field 5 (day of week) \"8\""
    )
    const duplicate = resolve([task({}), task({})])
    expect(Either.isLeft(duplicate) && duplicate.left.join("\n")).toContain("scheduler.tasks.1.name: Duplicate task name \"ping\"")
    expect(Either.isRight(resolve([task({})]))).toBe(true)
  })
})

describe("a task registered in code", () => {
  it.effect("is checked by the same rules, and nothing is registered when it fails", () =>
    Effect.gen(function*() {
      const scheduler = yield* Scheduler
      const failures = yield* Effect.all([
        Effect.flip(scheduler.add({ name: "a", work: Effect.void, triggers: [{ cron: "0 0 32 * *" }] })),
        Effect.flip(scheduler.add({ name: "b", work: Effect.void, triggers: [{ every: Duration.zero }] })),
        Effect.flip(scheduler.add({ name: "c", work: Effect.void, triggers: [] })),
        Effect.flip(scheduler.add({ name: "d", work: Effect.void, triggers: [{ event: "x" }], retry: { maxRetries: 1000 } })),
        Effect.flip(scheduler.add({ name: "e", work: Effect.void, triggers: [{ event: "x" }], timeout: "-1 seconds" })),
        Effect.flip(scheduler.add({ name: "bad name", work: Effect.void, triggers: [{ event: "x" }] }))
      ])
      expect(failures.map((failure) => failure._tag)).toEqual(Array(6).fill("TaskInvalid"))
      expect(failures[0]?.message).toContain("triggers.0: cron: field 3 (day of month) \"32\"")
      expect(failures[1]?.message).toContain("triggers.0: every: Expected a duration greater than zero")
      expect(failures[2]?.message).toContain("triggers: Expected at least one trigger")
      expect(failures[3]?.message).toContain("retry.maxRetries")
      expect(failures[4]?.message).toContain("timeout")
      expect(failures[5]?.message).toContain("name: Expected a task name")
      expect(yield* scheduler.list).toEqual([])
    }).pipe(withScheduler(layerScheduler())))
})
