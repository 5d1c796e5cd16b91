import { backoff, followEndpointList } from "./blocking.js"
import { applyEndpointEvent, type DirectoryState } from "./directory.js"
import { CommandError, type Identity, type LiveState } from "./link-state.js"
import type { EndpointEvent } from "./types.js"

/**
 * The console's one live link to Miko. With a token: the WebSocket `/v1/ws`, authenticated by
 * its first message, subscribed to `endpoints` (resuming from the last index after a drop) and,
 * for admins, to `tasks` and `config`; commands go over it too. Without a token the WebSocket
 * is closed to the caller (it needs a token), so the directory follows the blocking query of
 * `GET /v1/endpoints?index=N` instead — the same change index, and a route the public ingress
 * publishes. Neither polls: each waits for Miko to say something changed.
 */

type Topic = "tasks" | "config"

interface Pending {
  readonly resolve: (data: unknown) => void
  readonly reject: (error: Error) => void
}

export class Live {
  private state: LiveState = { link: "connecting", directory: undefined, identity: undefined, refusal: undefined }
  private readonly listeners = new Set<(state: LiveState) => void>()
  private readonly topicListeners = new Set<{ readonly topic: Topic; readonly listener: (data: unknown) => void }>()
  private readonly pending = new Map<number, Pending>()
  private socket: WebSocket | undefined
  private nextId = 1
  private attempts = 0
  private stopped = false
  private readonly abort = new AbortController()

  constructor(private readonly token: string | undefined) {
    if (token === undefined) {
      void followEndpointList(this.abort.signal, {
        index: () => this.state.directory?.index,
        onList: (list) => this.update({ link: "live", directory: { index: list.index, services: list.services } }),
        onDrop: () => this.update({ link: "reconnecting" }),
        onRefused: (refusal) => this.update({ link: "refused", refusal })
      })
    } else {
      this.connect(token)
    }
  }

  get current(): LiveState {
    return this.state
  }

  /** Calls `listener` with every new state; returns how to stop. */
  listen(listener: (state: LiveState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Events of the `tasks` or `config` topic (admin only); returns how to stop. */
  onTopic(topic: Topic, listener: (data: unknown) => void): () => void {
    const entry = { topic, listener }
    this.topicListeners.add(entry)
    return () => this.topicListeners.delete(entry)
  }

  /** Runs a WebSocket command (docs/websocket.md) as the token's caller. */
  command<A>(command: string, args?: unknown): Promise<A> {
    const socket = this.socket
    if (socket === undefined || socket.readyState !== WebSocket.OPEN || this.state.link !== "live") {
      return Promise.reject(new CommandError("unavailable", "not connected to Miko; try again once the console is live"))
    }
    const id = this.nextId++
    return new Promise<A>((resolve, reject) => {
      this.pending.set(id, { resolve: (data) => resolve(data as A), reject })
      socket.send(JSON.stringify({ type: "command", id, command, args }))
    })
  }

  close(): void {
    this.stopped = true
    this.abort.abort()
    this.socket?.close(1000, "console closed")
  }

  private update(change: Partial<LiveState>): void {
    this.state = { ...this.state, ...change }
    for (const listener of this.listeners) listener(this.state)
  }

  private applyEndpoints(event: EndpointEvent): void {
    const directory = this.state.directory ?? { index: 0, services: {} }
    this.update({ directory: applyEndpointEvent(directory, event) })
  }

  private connect(token: string): void {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:"
    const socket = new WebSocket(`${scheme}//${location.host}/v1/ws`)
    this.socket = socket
    socket.addEventListener("open", () => socket.send(JSON.stringify({ type: "auth", token })))
    socket.addEventListener("message", (message) => this.receive(String(message.data)))
    socket.addEventListener("close", () => this.dropped(token))
  }

  private dropped(token: string): void {
    for (const pending of this.pending.values()) pending.reject(new CommandError("unavailable", "the connection to Miko dropped"))
    this.pending.clear()
    if (this.stopped || this.state.link === "refused") return
    this.update({ link: "reconnecting" })
    setTimeout(() => this.stopped || this.connect(token), backoff(this.attempts++))
  }

  private receive(text: string): void {
    const message = JSON.parse(text) as {
      type: string
      id?: number
      ok?: boolean
      data?: unknown
      topic?: string
      name?: string
      roles?: ReadonlyArray<string>
      error?: { code: string; message: string }
    }
    if (message.type === "auth") {
      if (message.ok !== true) return this.update({ link: "refused", refusal: message.error?.message ?? "token refused" })
      return this.authenticated({ name: message.name ?? "", roles: message.roles ?? [] })
    }
    if (message.type === "result" && message.id !== undefined) {
      const pending = this.pending.get(message.id)
      this.pending.delete(message.id)
      if (message.ok === true) pending?.resolve(message.data)
      else pending?.reject(new CommandError(message.error?.code ?? "internal", message.error?.message ?? "failed"))
      return
    }
    if (message.type !== "event") return
    if (message.topic === "endpoints") return this.applyEndpoints(message.data as EndpointEvent)
    for (const entry of this.topicListeners) if (entry.topic === message.topic) entry.listener(message.data)
  }

  private authenticated(identity: Identity): void {
    this.attempts = 0
    this.update({ link: "live", identity, refusal: undefined })
    const index = this.state.directory?.index
    const subscriptions: Array<Promise<unknown>> = [this.command("subscribe", index === undefined ? { topic: "endpoints" } : { topic: "endpoints", index })]
    if (identity.roles.includes("admin")) {
      subscriptions.push(this.command("subscribe", { topic: "tasks" }), this.command("subscribe", { topic: "config" }))
    }
    // A failed subscription leaves the page as it was; the next reconnect tries again.
    Promise.all(subscriptions).catch(() => this.socket?.close(4000, "subscription failed"))
    // Pages reload what the topics do not carry (tasks, config, cluster) once the link is back.
    for (const entry of this.topicListeners) entry.listener({ type: "reconnected" })
  }
}
