import { Agent, request } from "node:http"
import { connect as connectTcp, type Socket } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startTarget, type Target } from "../scheduler/target.js"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { type Client, connect } from "../websocket/client.js"

/**
 * SIGTERM under load: blocking queries, WebSocket subscribers, running tasks and clients that
 * never finish (or never start) a request. Every round must exit 0 within `general.shutdownTimeout`.
 */

const shutdownTimeoutMs = 2_000
/** Process start-up of the exit path, recording the interrupted runs, closing the database. */
const slackMs = 1_500
const rounds = 5
const longPolls = 100
const subscribers = 50
/** Blocking-query clients that, like the SDKs, ask again at once on every answer. */
const eagerPollers = 10
const finishingTasks = 3
const hangingTasks = 3

/** An answer's status and Connection header, or why there was none. */
type Answer =
  | { readonly status: number | undefined; readonly connection: string | undefined }
  | { readonly error: string }

const get = (url: string, agent: Agent) =>
  new Promise<Answer>((resolve) => {
    const req = request(url, { agent }, (res) => {
      res.resume()
      res.on("end", () => resolve({ status: res.statusCode, connection: res.headers["connection"] }))
    })
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }))
    req.end()
  })

/** The change index now: a blocking query for it waits until the list moves past it. */
const currentIndex = async (miko: Miko) => {
  const response = await fetch(`${miko.url}/v1/endpoints`)
  await response.text()
  return Number(response.headers.get("x-miko-index"))
}

/** Asks again on every answer, over the same keep-alive agent, until Miko is gone. */
const pollEagerly = async (url: string, agent: Agent): Promise<number> => {
  let answered = 0
  for (;;) {
    const answer = await get(url, agent)
    if ("error" in answer) return answered
    answered++
  }
}

/** A plain TCP connection; Miko resetting it later is expected, not an error of the test. */
const tcp = (miko: Miko) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connectTcp(miko.port, "127.0.0.1", () => {
      socket.off("error", reject)
      socket.on("error", () => undefined)
      resolve(socket)
    })
    socket.once("error", reject)
  })

/** A WebSocket peer that completes the upgrade, then reads nothing: it never answers the closing handshake. */
const mutePeer = async (miko: Miko, token: string) => {
  const socket = await tcp(miko)
  socket.write(
    "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      `Authorization: Bearer ${token}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`
  )
  await new Promise<void>((resolve) => socket.once("data", () => resolve()))
  socket.pause()
  return socket
}

const createTask = async (miko: Miko, token: string, name: string, url: string) => {
  const { status } = await api(`${miko.url}/v1/tasks`, {
    method: "POST",
    token,
    body: { name, kind: "http", http: { url }, triggers: [{ event: "go" }] }
  })
  expect(status).toBe(201)
}

const until = async (check: () => boolean, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  expect(check()).toBe(true)
}

let target: Target

beforeAll(async () => {
  target = await startTarget()
})

afterAll(async () => {
  await target.close()
})

describe("shutdown under load", () => {
  for (let round = 1; round <= rounds; round++) {
    it(`round ${round}: exits 0 within general.shutdownTimeout`, async () => {
      const miko = await startMiko({ config: { general: { shutdownTimeout: `${shutdownTimeoutMs}ms` } } })
      const token = miko.token()
      const agent = new Agent({ keepAlive: true, maxSockets: Infinity })
      const held: Array<Socket> = []
      try {
        // Tasks running when the signal comes: some finish within the timeout, some are interrupted.
        const reached = target.received.length
        for (let i = 0; i < finishingTasks; i++) await createTask(miko, token, `finishing-${i}`, `${target.url}/slow?ms=800`)
        for (let i = 0; i < hangingTasks; i++) await createTask(miko, token, `hanging-${i}`, `${target.url}/hang`)

        const clients: Array<Client> = await Promise.all(Array.from({ length: subscribers }, () => connect(miko.url, { token })))
        for (const client of clients) {
          expect(await client.command("subscribe", { topic: "endpoints" })).toMatchObject({ ok: true })
        }

        const index = await currentIndex(miko)
        const pollUrl = `${miko.url}/v1/endpoints?index=${index}&wait=30s`
        const polls = Array.from({ length: longPolls }, () => get(pollUrl, agent))
        // Clients that hold a connection open without ever finishing a request on it.
        held.push(...await Promise.all(Array.from({ length: 5 }, () => tcp(miko))))
        const partial = await tcp(miko)
        partial.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        held.push(partial, await mutePeer(miko, token))

        expect((await api(`${miko.url}/v1/events/go`, { method: "POST", token })).status).toBe(202)
        await until(() => target.received.length >= reached + finishingTasks + hangingTasks)
        // Still parked: nothing has answered the blocking queries yet.
        const early = await Promise.race([Promise.all(polls).then(() => "answered"), new Promise((r) => setTimeout(() => r("waiting"), 200))])
        expect(early).toBe("waiting")

        const started = Date.now()
        miko.child.kill("SIGTERM")
        const eager = Array.from({ length: eagerPollers }, () => pollEagerly(pollUrl, agent))
        const code = await miko.exited
        const elapsed = Date.now() - started

        expect(code, miko.output()).toBe(0)
        expect(elapsed, miko.output()).toBeLessThan(shutdownTimeoutMs + slackMs)
        expect(miko.output()).not.toContain("took longer")
        // Every blocking query was answered at once, and told to close its connection.
        for (const answer of await Promise.all(polls)) expect(answer).toEqual({ status: 200, connection: "close" })
        for (const client of clients) expect((await client.closed).code).toBe(1001)
        await Promise.all(eager)
      } finally {
        for (const socket of held) socket.destroy()
        agent.destroy()
        await miko.stop("SIGKILL")
        cleanup(miko.dir)
      }
    }, 30_000)
  }
})

describe("connections that never finish a request", () => {
  it("a connection that never sent a byte does not hold the shutdown", async () => {
    // A long timeout: the close must not be waiting for it.
    const miko = await startMiko({ config: { general: { shutdownTimeout: "20s" } } })
    const silent = await tcp(miko)
    const started = Date.now()
    try {
      expect(await miko.stop("SIGTERM")).toBe(0)
      expect(Date.now() - started).toBeLessThan(3_000)
    } finally {
      silent.destroy()
      cleanup(miko.dir)
    }
  })

  it("a request whose headers never end is cut at general.shutdownTimeout", async () => {
    const miko = await startMiko({ config: { general: { shutdownTimeout: "1s" } } })
    const partial = await tcp(miko)
    partial.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    // Received before the signal: this connection has started a request.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const ended = new Promise<void>((resolve) => partial.once("close", () => resolve()))
    const started = Date.now()
    try {
      expect(await miko.stop("SIGTERM")).toBe(0)
      await ended
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000)
      expect(Date.now() - started).toBeLessThan(1_000 + slackMs)
      expect(miko.output()).toContain("closed 1 connection(s) still open after general.shutdownTimeout")
    } finally {
      partial.destroy()
      cleanup(miko.dir)
    }
  })
})
