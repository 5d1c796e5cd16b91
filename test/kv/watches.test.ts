import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanup, type JsonResponse, type Miko, startMiko } from "../support/miko.js"
import { del, get, kvConfig, put, sleep } from "./support.js"

let miko: Miko
beforeAll(async () => {
  miko = await startMiko({ config: kvConfig() })
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

/** A blocking request, with whether it has answered yet. */
const pending = (path: string) => {
  const state: { answer: JsonResponse | undefined; at: number } = { answer: undefined, at: 0 }
  const done = get(miko, path).then((answer) => {
    state.answer = answer
    state.at = Date.now()
    return answer
  })
  return { state, done }
}

const indexOf = (answer: JsonResponse) => Number(answer.headers.get("x-miko-index"))

describe("blocking reads of keys and prefixes", () => {
  it("a key watch wakes for its key only, with the new value", async () => {
    const first = await put(miko, "watch/key", 1)
    const read = await get(miko, "/v1/kv/watch/key")
    expect(indexOf(read)).toBe(first.body["index"])
    const waiting = pending(`/v1/kv/watch/key?index=${indexOf(read)}&wait=10s`)
    await put(miko, "watch/key-other", 1)
    await put(miko, "watch/key/below", 1)
    await sleep(300)
    expect(waiting.state.answer).toBeUndefined()
    const written = Date.now()
    await put(miko, "watch/key", 2)
    const answer = await waiting.done
    expect(answer.status).toBe(200)
    expect(answer.body).toMatchObject({ value: 2, version: 2 })
    expect(waiting.state.at - written).toBeLessThan(1000)
  })

  it("a prefix watch wakes only for changes under its prefix", async () => {
    await put(miko, "billing/rate", 1)
    const listed = await get(miko, "/v1/kv?prefix=billing/&values=true")
    const waiting = pending(`/v1/kv?prefix=billing/&values=true&index=${indexOf(listed)}&wait=10s`)
    await put(miko, "shipping/rate", 1)
    await put(miko, "billingx/rate", 1)
    await put(miko, "billing", 1)
    await sleep(300)
    expect(waiting.state.answer).toBeUndefined()
    await put(miko, "billing/db/pool", 5)
    const answer = await waiting.done
    expect(answer.body["items"].map((item) => [item["key"], item["value"]])).toEqual([["billing/db/pool", 5], ["billing/rate", 1]])
    expect(indexOf(answer)).toBe(answer.body["items"][0]!["index"])
    // A deletion under the prefix is a change too.
    const next = pending(`/v1/kv?prefix=billing/&index=${indexOf(answer)}&wait=10s`)
    await del(miko, "billing/rate")
    expect((await next.done).body["items"].map((item) => item["key"])).toEqual(["billing/db/pool"])
  })

  it("answers at the timeout with the current state, or 404 for a key that does not exist", async () => {
    await put(miko, "timeout/key", "x")
    const read = await get(miko, "/v1/kv/timeout/key")
    const started = Date.now()
    const answer = await get(miko, `/v1/kv/timeout/key?index=${indexOf(read)}&wait=400ms`)
    expect(Date.now() - started).toBeGreaterThanOrEqual(350)
    expect(answer.status).toBe(200)
    expect(indexOf(answer)).toBe(indexOf(read))
    expect((await get(miko, "/v1/kv/timeout/none?index=0&wait=300ms")).status).toBe(404)
    // An index from the future (another history) answers at once.
    const ahead = Date.now()
    expect((await get(miko, `/v1/kv/timeout/key?index=${indexOf(read) + 1000}&wait=10s`)).status).toBe(200)
    expect(Date.now() - ahead).toBeLessThan(1000)
  })

  it("a key watch wakes on the key's deletion with 404, and on its creation", async () => {
    await put(miko, "life/key", 1)
    const read = await get(miko, "/v1/kv/life/key")
    const waiting = pending(`/v1/kv/life/key?index=${indexOf(read)}&wait=10s`)
    await sleep(100)
    await del(miko, "life/key")
    expect((await waiting.done).status).toBe(404)
    const missing = await get(miko, "/v1/kv?prefix=life/")
    const created = pending(`/v1/kv/life/key?index=${indexOf(missing)}&wait=10s`)
    await sleep(100)
    await put(miko, "life/key", 2)
    expect((await created.done).body).toMatchObject({ value: 2, version: 3 })
  })

  it("many watchers of one prefix all wake on one write; the watchers of another stay parked", async () => {
    const base = indexOf(await get(miko, "/v1/kv?prefix=fleet-a/"))
    const a = Array.from({ length: 50 }, () => pending(`/v1/kv?prefix=fleet-a/&index=${base}&wait=10s`))
    const other = indexOf(await get(miko, "/v1/kv?prefix=fleet-b/"))
    const b = Array.from({ length: 50 }, () => pending(`/v1/kv?prefix=fleet-b/&index=${other}&wait=2s`))
    await sleep(300)
    await put(miko, "fleet-a/size", 3)
    await Promise.all(a.map((watch) => watch.done))
    expect(b.every((watch) => watch.state.answer === undefined)).toBe(true)
    await Promise.all(b.map((watch) => watch.done))
  })
})
