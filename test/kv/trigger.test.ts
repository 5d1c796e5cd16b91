import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { eventually, startTarget, type Target } from "../scheduler/target.js"
import { admin, del, kvConfig, put, sleep } from "./support.js"

let miko: Miko
let target: Target
beforeAll(async () => {
  target = await startTarget()
  miko = await startMiko({
    config: {
      ...kvConfig(),
      scheduler: {
        tasks: [{ name: "billing-changed", kind: "http", http: { method: "POST", url: `${target.url}/billing` }, triggers: [{ kvChanged: "billing/" }], overlap: "allow" }]
      }
    }
  })
})
afterAll(async () => {
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
  await target.close()
})

const calls = () => target.received.filter((request) => request.path === "/billing")

describe("the kvChanged trigger", () => {
  it("runs once per committed change under its prefix, with the key in the run's context; other keys do not fire it", async () => {
    await put(miko, "shipping/rate", 1)
    await put(miko, "billingx/rate", 1)
    const written = await put(miko, "billing/rate", 7)
    await put(miko, "billing/plan", "gold")
    await del(miko, "billing/plan")
    const seen = await eventually(async () => calls(), (list) => list.length >= 3)
    await sleep(300)
    const byIndex = calls().sort((a, b) => Number(a.headers["x-miko-context-index"]) - Number(b.headers["x-miko-context-index"]))
    expect(byIndex.map((call) => [call.headers["x-miko-context-key"], call.headers["x-miko-context-version"], call.headers["x-miko-context-deleted"]])).toEqual([
      ["billing/rate", "1", "false"],
      ["billing/plan", "1", "false"],
      ["billing/plan", "2", "true"]
    ])
    expect(seen.length).toBe(3)
    expect(byIndex[0]!.headers["x-miko-context-index"]).toBe(String(written.body["index"]))
    const tasks = await api(`${miko.url}/v1/tasks`, { token: admin })
    const task = tasks.body.find((candidate) => String(candidate["name"]) === "billing-changed")!
    expect(task["triggers"]).toEqual([{ kvChanged: "billing/" }])
    const executions = await eventually(
      async () => (await api(`${miko.url}/v1/tasks/${task["id"]}/executions`, { token: admin })).body,
      (list) => list.length === 3 && list.every((execution) => String(execution["status"]) === "succeeded")
    )
    expect(executions.map((execution) => execution["trigger"])).toContain("kvChanged billing/: billing/rate")
  })

  it("refuses a prefix with characters keys cannot have", async () => {
    const refused = await api(`${miko.url}/v1/tasks`, {
      method: "POST",
      token: admin,
      body: { name: "bad", kind: "http", http: { method: "GET", url: `${target.url}/x` }, triggers: [{ kvChanged: "bill ing/" }] }
    })
    expect(refused.status).toBe(400)
    expect(refused.body["error"]["message"]).toContain("kvChanged")
  })
})
