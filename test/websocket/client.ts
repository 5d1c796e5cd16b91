import WebSocket from "ws"
import type { Json } from "../support/miko.js"

export interface Message {
  readonly type: string
  readonly id?: string | number | null
  readonly ok?: boolean
  readonly data?: Json
  readonly error?: { readonly code: string; readonly message: string }
  readonly topic?: string
  readonly subscription?: string
}

/** A real `ws` client that records every message and can wait for one that matches. */
export interface Client {
  readonly ws: WebSocket
  readonly messages: Array<Message>
  readonly closed: Promise<{ code: number; reason: string }>
  readonly send: (message: unknown) => void
  readonly command: (command: string, args?: unknown) => Promise<Message>
  readonly next: (match: (message: Message) => boolean, timeoutMs?: number) => Promise<Message>
  readonly events: (subscription: string) => Array<Json>
}

export const connect = async (url: string, options: { token?: string } = {}): Promise<Client> => {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/ws`, {
    headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
  })
  const messages: Array<Message> = []
  const waiters: Array<{ match: (m: Message) => boolean; resolve: (m: Message) => void }> = []
  ws.on("message", (raw) => {
    const message = JSON.parse(raw.toString()) as Message
    messages.push(message)
    for (const waiter of [...waiters]) {
      if (waiter.match(message)) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(message)
      }
    }
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })))
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve())
    ws.once("error", reject)
    ws.once("unexpected-response", (_, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)))
  })
  let nextId = 0
  const next = (match: (message: Message) => boolean, timeoutMs = 5_000) => {
    const seen = messages.find(match)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no matching message in time")), timeoutMs)
      waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) })
    })
  }
  const send = (message: unknown) => ws.send(typeof message === "string" ? message : JSON.stringify(message))
  return {
    ws,
    messages,
    closed,
    send,
    next,
    command: (command, args) => {
      const id = ++nextId
      send({ type: "command", id, command, ...(args === undefined ? {} : { args }) })
      return next((m) => m.type === "result" && m.id === id)
    },
    events: (subscription) => messages.filter((m) => m.type === "event" && m.subscription === subscription).map((m) => m.data as Json)
  }
}
