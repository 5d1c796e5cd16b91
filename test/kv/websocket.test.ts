import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { cleanup, type Miko, startMiko } from "../support/miko.js"
import { type Client, connect } from "../websocket/client.js"
import { admin, billingReader, billingWriter, get, kvConfig, put, sleep } from "./support.js"

let miko: Miko
const clients: Array<Client> = []
const open = async (token: string) => {
  const client = await connect(miko.url, { token })
  clients.push(client)
  return client
}
beforeAll(async () => {
  miko = await startMiko({ config: kvConfig() })
})
afterAll(async () => {
  for (const client of clients.splice(0)) client.ws.terminate()
  await miko.stop("SIGKILL")
  cleanup(miko.dir)
})

describe("application keys over the WebSocket", () => {
  it("kv.set, kv.get and kv.delete answer as HTTP does, with the same error codes", async () => {
    const client = await open(billingWriter)
    const set = await client.command("kv.set", { key: "billing/ws/rate", value: { cents: 12 }, comment: "from ws" })
    expect(set.ok).toBe(true)
    expect(set.data).toMatchObject({ key: "billing/ws/rate", version: 1, updatedBy: "billing-writer" })
    const read = await client.command("kv.get", { key: "billing/ws/rate" })
    expect(read.data).toEqual((await get(miko, "/v1/kv/billing/ws/rate")).body)
    const conflict = await client.command("kv.set", { key: "billing/ws/rate", value: 1, ifVersion: 9 })
    expect(conflict.error?.code).toBe("kv_version_conflict")
    expect((await client.command("kv.set", { key: "billing/ws/rate", value: 1, create: true })).error?.code).toBe("kv_version_conflict")
    expect((await client.command("kv.set", { key: "billing/ws/rate", value: 2, ifVersion: 1 })).data).toMatchObject({ version: 2 })
    expect((await client.command("kv.set", { key: "ops/x", value: 1 })).error?.code).toBe("kv_forbidden")
    expect((await client.command("kv.set", { key: "billing//x", value: 1 })).error?.code).toBe("kv_invalid_key")
    expect((await client.command("kv.get", { key: "ops/x" })).error?.code).toBe("kv_key_not_found")
    const deleted = await client.command("kv.delete", { key: "billing/ws/rate", ifVersion: 2 })
    expect(deleted.data).toMatchObject({ key: "billing/ws/rate", version: 3 })
    expect((await client.command("kv.delete", { key: "billing/ws/rate" })).error?.code).toBe("kv_key_not_found")
    expect((await client.command("kv.set", { key: "billing/ws/x" })).error?.code).toBe("invalid_arguments")
  })

  it("the kv topic sends the changes under its prefix, resumes from an index, and hides secrets from readers", async () => {
    const first = await put(miko, "billing/topic/a", 1)
    await put(miko, "billing/topic/b", 2)
    const reader = await open(billingReader)
    const writer = await open(billingWriter)
    const resumed = await reader.command("subscribe", { topic: "kv", prefix: "billing/topic/", index: first.body["index"] })
    const resumedId = resumed.data!["subscription"] as unknown as string
    const live = await writer.command("subscribe", { topic: "kv", prefix: "billing/topic/" })
    const liveId = live.data!["subscription"] as unknown as string
    await reader.next((m) => m.subscription === resumedId)
    expect(reader.events(resumedId)).toEqual([{ key: "billing/topic/b", version: 1, index: Number(first.body["index"]) + 1, deleted: false, value: 2 }])
    await put(miko, "billing/other/c", 3)
    await put(miko, "billing/topic/secret", "s3cret", { secret: true })
    await put(miko, "billing/topic/a", 5)
    await reader.next((m) => m.subscription === resumedId && String(m.data?.["key"]) === "billing/topic/a")
    await writer.next((m) => m.subscription === liveId && String(m.data?.["key"]) === "billing/topic/a")
    const seenByReader = reader.events(resumedId).slice(1)
    expect(seenByReader.map((event) => [event["key"], event["value"] ?? null])).toEqual([
      ["billing/topic/secret", null],
      ["billing/topic/a", 5]
    ])
    expect(writer.events(liveId).map((event) => [event["key"], event["value"] ?? null])).toEqual([
      ["billing/topic/secret", "s3cret"],
      ["billing/topic/a", 5]
    ])
    await sleep(100)
    expect(reader.events(resumedId).every((event) => String(event["key"]).startsWith("billing/topic/"))).toBe(true)
    const denied = await reader.command("subscribe", { topic: "kv", prefix: "ops/" })
    expect(denied.error?.code).toBe("kv_forbidden")
    const adminClient = await open(admin)
    expect((await adminClient.command("subscribe", { topic: "kv" })).ok).toBe(true)
  })
})
