import * as Schema from "effect/Schema"
import { ServiceName } from "../shared/address.js"
import { EndpointId, EndpointStatus, Registration } from "../registry/model.js"
import { KvPrefix } from "../config/schema.js"

/** A command's correlation id, echoed in its result. */
export const MessageId = Schema.Union(Schema.String, Schema.Number)

export const AuthMessage = Schema.Struct({
  type: Schema.Literal("auth"),
  token: Schema.String
}).annotations({ identifier: "AuthMessage", description: "Authenticates the connection; must come first when the upgrade carried no Authorization header" })

export const CommandMessage = Schema.Struct({
  type: Schema.Literal("command"),
  id: MessageId,
  command: Schema.String,
  args: Schema.optionalWith(Schema.Unknown, { exact: true })
}).annotations({ identifier: "CommandMessage" })

/** Every message a client may send. */
export const ClientMessage = Schema.Union(AuthMessage, CommandMessage).annotations({ identifier: "ClientMessage" })
export type ClientMessage = typeof ClientMessage.Type

export const ErrorBody = Schema.Struct({ code: Schema.String, message: Schema.String })

export const ResultOk = Schema.Struct({
  id: Schema.NullOr(MessageId),
  type: Schema.Literal("result"),
  ok: Schema.Literal(true),
  data: Schema.Unknown
})
export const ResultError = Schema.Struct({
  id: Schema.NullOr(MessageId),
  type: Schema.Literal("result"),
  ok: Schema.Literal(false),
  error: ErrorBody
})
export const EventMessage = Schema.Struct({
  type: Schema.Literal("event"),
  topic: Schema.Literal("endpoints", "tasks", "config", "kv"),
  subscription: Schema.String,
  data: Schema.Unknown
})
export const HelloMessage = Schema.Struct({
  type: Schema.Literal("hello"),
  version: Schema.String,
  authenticated: Schema.Boolean
})
export const AuthResult = Schema.Struct({
  type: Schema.Literal("auth"),
  ok: Schema.Boolean,
  name: Schema.optionalWith(Schema.String, { exact: true }),
  roles: Schema.optionalWith(Schema.Array(Schema.String), { exact: true }),
  error: Schema.optionalWith(ErrorBody, { exact: true })
})

/** Every message the server sends. */
export const ServerMessage = Schema.Union(ResultOk, ResultError, EventMessage, HelloMessage, AuthResult).annotations({ identifier: "ServerMessage" })
export type ServerMessage = typeof ServerMessage.Type

// Arguments of the commands.

export const EndpointFilterArgs = Schema.Struct({
  service: Schema.optionalWith(Schema.Union(ServiceName, Schema.Array(ServiceName)), { exact: true }),
  tag: Schema.optionalWith(Schema.String, { exact: true }),
  zone: Schema.optionalWith(Schema.String, { exact: true }),
  status: Schema.optionalWith(EndpointStatus, { exact: true })
})

export const RegisterArgs = Schema.Struct({
  service: ServiceName,
  endpoint: Registration,
  ephemeral: Schema.optionalWith(Schema.Boolean, { default: () => false }).annotations({
    description: "Remove the endpoint when this connection closes or stops answering pings"
  })
})

export const EndpointRefArgs = Schema.Struct({ service: ServiceName, id: EndpointId })

export const SubscribeArgs = Schema.Union(
  Schema.Struct({
    topic: Schema.Literal("endpoints"),
    filter: Schema.optionalWith(EndpointFilterArgs, { exact: true }),
    index: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { exact: true }).annotations({
      description: "Resume after this index: the changes since, or a snapshot when they are no longer kept"
    })
  }),
  Schema.Struct({ topic: Schema.Literal("config") }),
  Schema.Struct({
    topic: Schema.Literal("kv"),
    prefix: Schema.optionalWith(KvPrefix, { default: () => "" }),
    index: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { exact: true }).annotations({
      description: "Resume after this index: the current version of each key under the prefix changed since, then the changes as they come"
    })
  }),
  Schema.Struct({ topic: Schema.Literal("tasks"), taskId: Schema.optionalWith(Schema.String, { exact: true }) })
)
export type SubscribeArgs = typeof SubscribeArgs.Type

export const UnsubscribeArgs = Schema.Struct({ subscription: Schema.String })
export const ConfigKeyArgs = Schema.Struct({ key: Schema.String })
export const OptionalConfigKeyArgs = Schema.Struct({ key: Schema.optionalWith(Schema.String, { exact: true }) })
export const ConfigSetArgs = Schema.Struct({ key: Schema.String, value: Schema.Unknown.pipe(Schema.filter((v) => v !== undefined, { message: () => "is missing" })) })
export const NoArgs = Schema.Struct({})
export const TaskRefArgs = Schema.Struct({ id: Schema.String })
export const OptionalTaskRefArgs = Schema.Struct({ id: Schema.optionalWith(Schema.String, { exact: true }) })
export const EventArgs = Schema.Struct({ name: Schema.String.pipe(Schema.minLength(1)) })

const ifVersion = Schema.optionalWith(Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)), { exact: true }).annotations({
  description: "Compare-and-set: write only when the key is at this version (as If-Match)"
})
export const KvKeyArgs = Schema.Struct({ key: Schema.String })
export const KvSetArgs = Schema.Struct({
  key: Schema.String,
  value: Schema.Unknown.pipe(Schema.filter((v) => v !== undefined, { message: () => "is missing" })),
  comment: Schema.optionalWith(Schema.String.pipe(Schema.maxLength(1024)), { exact: true }),
  secret: Schema.optionalWith(Schema.Boolean, { exact: true }),
  ifVersion,
  create: Schema.optionalWith(Schema.Boolean, { exact: true }).annotations({ description: "Create only (as If-None-Match: *)" })
})
export const KvDeleteArgs = Schema.Struct({ key: Schema.String, ifVersion })
