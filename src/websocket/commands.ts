import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as ConfigOperations from "../config/operations.js"
import { KvOperations } from "../kv/index.js"
import * as RegistryOperations from "../registry/operations.js"
import * as SchedulerOperations from "../scheduler/operations.js"
import { describeParseError } from "../shared/parse-error.js"
import { didYouMean } from "../shared/suggest.js"
import { version } from "../shared/version.js"
import type { Connection } from "./connection.js"
import { InvalidArguments, UnknownCommand, UnknownSubscription } from "./errors.js"
import {

  ConfigSetArgs,
  EndpointFilterArgs,
  EndpointRefArgs,
  EventArgs,
  KvDeleteArgs,
  KvKeyArgs,
  KvSetArgs,
  NoArgs,
  OptionalConfigKeyArgs,
  OptionalTaskRefArgs,
  RegisterArgs,
  SubscribeArgs,
  TaskRefArgs,
  UnsubscribeArgs
} from "./protocol.js"
import { subscribe } from "./subscriptions.js"

/** What a command answers, and what must happen once the answer is on its way. */
export interface Outcome {
  readonly data: unknown
  readonly afterReply?: Effect.Effect<void> | undefined
}

type Run<R> = (args: unknown, connection: Connection) => Effect.Effect<Outcome, unknown, R>

const invalidArguments = (command: string) => (error: ParseResult.ParseError) =>
  new InvalidArguments({
    message: `${command}: ${describeParseError(error)}`
  })

/** A command: its arguments decoded with a Schema, then one operation shared with the HTTP API. */
const command = <A, I, E, R>(
  name: string,
  args: Schema.Schema<A, I>,
  run: (args: A, connection: Connection) => Effect.Effect<unknown, E, R>
): Run<R> =>
(raw, connection) =>
  Schema.decodeUnknown(args, { onExcessProperty: "error" })(raw ?? {}).pipe(
    Effect.mapError(invalidArguments(name)),
    Effect.flatMap((decoded) => run(decoded, connection)),
    Effect.map((data) => ({ data }))
  )

const filterOf = (args: typeof EndpointFilterArgs.Type) => ({
  services: args.service === undefined ? undefined : typeof args.service === "string" ? [args.service] : args.service,
  tag: args.tag,
  zone: args.zone,
  status: args.status
})

const simpleCommands = {
  "ping": command("ping", NoArgs, () => Effect.succeed({ pong: true, version })),
  "endpoints.list": command("endpoints.list", EndpointFilterArgs, (args) => RegistryOperations.listEndpoints(filterOf(args))),
  "endpoints.register": command("endpoints.register", RegisterArgs, (args, connection) =>
    Effect.map(
      RegistryOperations.registerEndpoint(args.service, args.endpoint, args.ephemeral ? { connection: connection.id } : undefined),
      ({ endpoint, created }) => ({ endpoint, created })
    )),
  "endpoints.heartbeat": command("endpoints.heartbeat", EndpointRefArgs, (args) => RegistryOperations.heartbeatEndpoint(args.service, args.id)),
  "endpoints.deregister": command("endpoints.deregister", EndpointRefArgs, (args) =>
    Effect.as(RegistryOperations.deregisterEndpoint(args.service, args.id), { deregistered: args.id })),
  "config.get": command("config.get", OptionalConfigKeyArgs, (args) =>
    args.key === undefined ? ConfigOperations.snapshot : ConfigOperations.getKey(args.key)),
  "config.set": command("config.set", ConfigSetArgs, (args) => ConfigOperations.setKey(args.key, args.value)),
  "config.reset": command("config.reset", OptionalConfigKeyArgs, (args) =>
    args.key === undefined ? ConfigOperations.resetAll : ConfigOperations.resetKey(args.key)),
  "kv.get": command("kv.get", KvKeyArgs, (args) => Effect.map(KvOperations.getKey(args.key), ({ entry }) => entry)),
  "kv.set": command("kv.set", KvSetArgs, (args) =>
    KvOperations.putKey(args.key, args, { ifVersion: args.ifVersion, create: args.create })),
  "kv.delete": command("kv.delete", KvDeleteArgs, (args) => KvOperations.deleteKey(args.key, { ifVersion: args.ifVersion })),
  "tasks.list": command("tasks.list", NoArgs, () => SchedulerOperations.listTasks),
  "tasks.run": command("tasks.run", TaskRefArgs, (args) => SchedulerOperations.runTask(args.id)),
  "tasks.pause": command("tasks.pause", OptionalTaskRefArgs, (args) =>
    args.id === undefined ? SchedulerOperations.pauseAll : SchedulerOperations.pauseTask(args.id)),
  "tasks.resume": command("tasks.resume", OptionalTaskRefArgs, (args) =>
    args.id === undefined ? SchedulerOperations.resumeAll : SchedulerOperations.resumeTask(args.id)),
  "events.fire": command("events.fire", EventArgs, (args) => SchedulerOperations.fireEvent(args.name)),
  "unsubscribe": command("unsubscribe", UnsubscribeArgs, (args, connection) =>
    Effect.gen(function*() {
      if (!(yield* connection.subscriptions.has(args.subscription))) {
        return yield* new UnknownSubscription({ message: `no subscription ${JSON.stringify(args.subscription)} on this connection` })
      }
      yield* connection.subscriptions.end(args.subscription)
      return { unsubscribed: args.subscription }
    }))
}

const subscribeCommand = (raw: unknown, connection: Connection) =>
  Schema.decodeUnknown(SubscribeArgs, { onExcessProperty: "error" })(raw ?? {}).pipe(
    Effect.mapError(invalidArguments("subscribe")),
    Effect.flatMap((args) => subscribe(connection, args))
  )

/** Every command by name. */
export const commands = { ...simpleCommands, subscribe: subscribeCommand }

export type CommandName = keyof typeof commands

const isCommandName = (name: string): name is CommandName => Object.prototype.hasOwnProperty.call(commands, name)

export const findCommand = (name: string) =>
  isCommandName(name)
    ? Effect.succeed(commands[name])
    : Effect.fail(new UnknownCommand({ message: `unknown command ${JSON.stringify(name)}${didYouMean(name, Object.keys(commands))}` }))

