/** The shapes of Miko's answers that the console reads (see /openapi.json). */

export type EndpointStatus = "passing" | "warning" | "critical"

export interface Endpoint {
  readonly id: string
  readonly service: string
  readonly publicAddress?: string
  readonly internalAddress?: string
  readonly protocol: string
  readonly weight: number
  readonly zone?: string
  readonly tags: ReadonlyArray<string>
  readonly metadata: Readonly<Record<string, string>>
  readonly status: EndpointStatus
  readonly source: "static" | "registered"
  readonly registeredAt: string
  readonly lastSeenAt: string
  readonly ttl?: string
}

export type Directory = Readonly<Record<string, ReadonlyArray<Endpoint>>>

export interface EndpointList {
  readonly index: number
  readonly services: Directory
}

export interface LeaseProtection {
  readonly active: boolean
  readonly threshold: number
  readonly leased: number
  readonly lapsing: number
}

export interface ServiceList {
  readonly index: number
  readonly protection: LeaseProtection
}

export interface Task {
  readonly id: string
  readonly name: string
  readonly description?: string
  readonly kind: "code" | "http"
  readonly source: string
  readonly priority: string | number
  readonly enabled: boolean
  readonly running: number
  readonly nextRunAt?: string
  readonly triggers: ReadonlyArray<unknown>
}

export interface Execution {
  readonly id: string
  readonly taskId: string
  readonly trigger: string
  readonly attempt: number
  readonly scheduledAt: string
  readonly startedAt: string
  readonly endedAt?: string
  readonly status: string
  readonly error?: string
  readonly result?: string
}

export type ConfigSource = "default" | "file" | "env" | "runtime"

export interface ConfigSnapshot {
  readonly config: Readonly<Record<string, unknown>>
  readonly sources: Readonly<Record<string, ConfigSource>>
}

export interface ConfigEntry {
  readonly key: string
  readonly value: unknown
  readonly source: ConfigSource
  readonly description: string
  readonly restartRequired: boolean
}

export interface Replica {
  readonly id: string
  readonly address: string
  readonly startedAt: number
  readonly silentFor: number
  readonly leader: boolean
  readonly live: boolean
}

export interface ClusterStatus {
  readonly replica: string
  readonly leader: string | null
  readonly replicas: ReadonlyArray<Replica>
}

/** A change on the `endpoints` topic of the WebSocket (docs/websocket.md). */
export type EndpointEvent =
  | { readonly type: "snapshot"; readonly index: number; readonly services: Directory }
  | {
    readonly type: "registered" | "updated" | "deregistered" | "status"
    readonly index: number
    readonly service: string
    readonly endpointId: string
    readonly endpoint?: Endpoint
  }
