import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { admin } from "../registry/support.js"
import { eventually, startTarget, type Target } from "../scheduler/target.js"
import { api, cleanup, type JsonResponse, type Miko } from "../support/miko.js"
import { connect } from "../websocket/client.js"
import { startReplicas, syncMillis } from "./support.js"

/** Application keys on two replicas sharing one PostgreSQL database. */

let replicas: Array<Miko> = []
let target: Target

beforeAll(async () => {
  target = await startTarget()
  const started = await startReplicas(2, {
    scheduler: {
      tasks: [{ name: "on-billing", kind: "http", http: { method: "POST", url: `${target.url}/billing` }, triggers: [{ kvChanged: "billing/" }], overlap: "allow" }]
    }
  })
  replicas = started.replicas
}, 60_000)

afterAll(async () => {
  await Promise.all(replicas.map((miko) => miko.stop("SIGKILL")))
  await target.close()
  for (const miko of replicas) cleanup(miko.dir)
})

const [a, b] = [0, 1].map((i) => () => replicas[i]!)

const put = (miko: Miko, key: string, value: unknown, headers: Record<string, string> = {}) =>
  api(`${miko.url}/v1/kv/${key}`, { method: "PUT", token: admin, body: { value }, headers })
const get = (miko: Miko, path: string) => api(`${miko.url}${path}`, { token: admin })
const indexOf = (answer: JsonResponse) => Number(answer.headers.get("x-miko-index"))

describe("application keys across replicas", () => {
  it("a write on A wakes a prefix watch on B and a kv subscriber on B within 1 s; a write elsewhere wakes neither", async () => {
    await put(a(), "billing/rate", 1)
    const listed = await eventually(() => get(b(), "/v1/kv?prefix=billing/"), (answer) => answer.body["items"].length === 1, syncMillis * 2)
    const client = await connect(b().url, { token: admin })
    const subscribed = await client.command("subscribe", { topic: "kv", prefix: "billing/" })
    const subscription = subscribed.data!["subscription"] as unknown as string
    let answeredAt = 0
    const watch = get(b(), `/v1/kv?prefix=billing/&values=true&index=${indexOf(listed)}&wait=20s`).then((answer) => {
      answeredAt = Date.now()
      return answer
    })
    await put(a(), "shipping/rate", 1)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(answeredAt).toBe(0)
    expect(client.events(subscription)).toEqual([])
    const written = Date.now()
    const change = await put(a(), "billing/rate", 2)
    const answer = await watch
    expect(answeredAt - written).toBeLessThan(1_000)
    expect(answer.body["items"][0]).toMatchObject({ key: "billing/rate", value: 2, version: 2 })
    const event = await client.next((m) => m.subscription === subscription, 1_000)
    expect(event.data).toEqual({ key: "billing/rate", version: 2, index: change.body["index"], deleted: false, value: 2 })
    client.ws.terminate()
  })

  it("writes on both replicas take one order of versions; compare-and-set lets exactly one of two win", async () => {
    await put(a(), "race/key", 0)
    const writes = await Promise.all(Array.from({ length: 10 }, (_, i) => put(i % 2 === 0 ? a() : b(), "race/key", i + 1)))
    expect(writes.map((w) => w.body["version"] as unknown as number).sort((x, y) => x - y)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    const indexes = writes.map((w) => w.body["index"] as unknown as number)
    expect(new Set(indexes).size).toBe(10)
    const contested = await Promise.all([put(a(), "race/key", "a", { "if-match": "11" }), put(b(), "race/key", "b", { "if-match": "11" })])
    expect(contested.map((answer) => answer.status).sort()).toEqual([200, 412])
    const history = await get(b(), "/v1/kv/race/key/history?limit=3")
    expect(history.body["versions"].map((v) => v["version"])).toEqual([12, 11, 10])
  })

  it("a kvChanged task runs once per change, whichever replica took the write", async () => {
    const before = target.received.length
    await put(b(), "billing/plan", "gold")
    await put(a(), "billing/plan", "silver")
    await eventually(async () => target.received.length, (count) => count >= before + 2, 10_000)
    await new Promise((resolve) => setTimeout(resolve, 1_000))
    const calls = target.received.slice(before).filter((call) => call.headers["x-miko-context-key"] === "billing/plan")
    expect(calls.map((call) => call.headers["x-miko-context-version"]).sort()).toEqual(["1", "2"])
  })
})
