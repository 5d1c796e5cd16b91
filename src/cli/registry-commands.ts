import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Endpoint, EndpointId, EndpointList, EndpointStatus, ServiceList } from "../registry/model.js"
import { Address, ServiceName } from "../shared/address.js"
import { PositiveDurationString } from "../shared/duration.js"
import { CliError } from "./errors.js"
import { cell, fields, instant, printJson, table } from "./format.js"
import { type CliEnvironment, connectionOptions, jsonOption, present, withMiko } from "./shared.js"
import { acceptUndeclaredSuccess } from "./transport.js"

const endpointRows = (list: EndpointList) =>
  Object.values(list.services).flat().map((endpoint) => [
    endpoint.service,
    endpoint.id,
    endpoint.status,
    cell(endpoint.publicAddress),
    cell(endpoint.internalAddress),
    cell(endpoint.zone),
    String(endpoint.weight),
    cell(endpoint.tags.join(",")),
    cell(instant(endpoint.lastSeenAt))
  ])

export const endpointTable = (list: EndpointList): string => {
  const rows = endpointRows(list)
  return rows.length === 0
    ? "no endpoints"
    : table(["SERVICE", "ID", "STATUS", "PUBLIC", "INTERNAL", "ZONE", "WEIGHT", "TAGS", "LAST SEEN"], rows)
}

const endpointFields = (endpoint: Endpoint): string =>
  fields([
    ["service", endpoint.service],
    ["id", endpoint.id],
    ["status", endpoint.status],
    ["public", endpoint.publicAddress],
    ["internal", endpoint.internalAddress],
    ["protocol", endpoint.protocol],
    ["zone", endpoint.zone],
    ["weight", String(endpoint.weight)],
    ["tags", endpoint.tags.length === 0 ? undefined : endpoint.tags.join(", ")],
    ["ttl", endpoint.ttl],
    ["registered", instant(endpoint.registeredAt)]
  ])

export const serviceTable = (list: Pick<typeof ServiceList.Type, "services">): string =>
  list.services.length === 0
    ? "no services registered"
    : table(
      ["SERVICE", "ENDPOINTS", "PASSING", "WARNING", "CRITICAL"],
      list.services.map((service) =>
        [service.name, service.endpoints, service.passing, service.warning, service.critical].map(String)
      )
    )

const serviceArg = Args.text({ name: "SERVICE" }).pipe(Args.withSchema(ServiceName))

/** `miko endpoints list|register|deregister`. */
export const endpointsCommand = (environment: CliEnvironment) => {
  const run = withMiko(environment)

  const list = Command.make(
    "list",
    {
      ...connectionOptions,
      json: jsonOption,
      // Repeated before the schema: @effect/cli repeats only a plain option.
      service: Options.text("service").pipe(
        Options.withDescription("Only this service (repeatable)"),
        Options.repeated,
        Options.withSchema(Schema.mutable(Schema.Array(ServiceName)))
      ),
      tag: Options.text("tag").pipe(Options.withDescription("Only endpoints with this tag"), Options.optional),
      zone: Options.text("zone").pipe(Options.withDescription("Only endpoints in this zone"), Options.optional),
      status: Options.choice("status", EndpointStatus.literals).pipe(Options.withDescription("Only endpoints in this state"), Options.optional)
    },
    (options) =>
      run(options, (miko) =>
        Effect.gen(function*() {
          const answer = yield* miko.call((client) =>
            client.registry.list({
              urlParams: {
                ...(options.service.length > 0 ? { service: options.service } : {}),
                ...present("tag", options.tag),
                ...present("zone", options.zone),
                ...present("status", options.status)
              }
            })
          )
          // 304 answers only a request that sent If-None-Match, which this one does not.
          if (answer === undefined) return yield* new CliError({ kind: "unexpected", message: "Miko answered 304 to a plain read" })
          return yield* options.json ? printJson(EndpointList, answer) : Console.log(endpointTable(answer))
        }))
  ).pipe(Command.withDescription("List endpoints (internal addresses only with a token that has the internal role)"))

  const register = Command.make(
    "register",
    {
      ...connectionOptions,
      json: jsonOption,
      service: serviceArg,
      publicAddress: Options.text("public").pipe(Options.withSchema(Address), Options.withDescription("Public address (URL or host:port)"), Options.optional),
      internalAddress: Options.text("internal").pipe(Options.withSchema(Address), Options.withDescription("Internal address (URL or host:port)"), Options.optional),
      id: Options.text("id").pipe(Options.withSchema(EndpointId), Options.withDescription("Stable id; the same id again updates the endpoint"), Options.optional),
      ttl: Options.text("ttl").pipe(Options.withSchema(PositiveDurationString), Options.withDescription("Lease, e.g. 30s: without a heartbeat within it the endpoint turns critical"), Options.optional),
      tag: Options.text("tag").pipe(Options.withDescription("A tag (repeatable)"), Options.repeated),
      zone: Options.text("zone").pipe(Options.optional),
      weight: Options.integer("weight").pipe(Options.withDescription("0 to 1000 (default 1)"), Options.withDefault(1))
    },
    (options) =>
      run(options, (miko) =>
        Effect.gen(function*() {
          if (Option.isNone(options.publicAddress) && Option.isNone(options.internalAddress)) {
            return yield* new CliError({ kind: "invalid", message: "give --public URL, --internal URL, or both" })
          }
          const registration = {
            protocol: "http" as const,
            weight: options.weight,
            tags: options.tag,
            metadata: {},
            ...present("id", options.id),
            ...present("publicAddress", options.publicAddress),
            ...present("internalAddress", options.internalAddress),
            ...present("zone", options.zone),
            ...present("ttl", options.ttl)
          }
          const endpoint = yield* miko.call((client) =>
            client.registry.register({ path: { service: options.service }, payload: registration }).pipe(acceptUndeclaredSuccess(Endpoint))
          )
          if (options.json) return yield* printJson(Endpoint, endpoint)
          const lease = endpoint.ttl === undefined ? "" : `\nsend a heartbeat within ${endpoint.ttl}, or it turns critical`
          return yield* Console.log(`registered ${endpoint.service}/${endpoint.id}\n${endpointFields(endpoint)}${lease}`)
        }))
  ).pipe(Command.withDescription("Register (or update) an endpoint of SERVICE"))

  const deregister = Command.make(
    "deregister",
    { ...connectionOptions, json: jsonOption, service: serviceArg, id: Args.text({ name: "ID" }).pipe(Args.withSchema(EndpointId)) },
    (options) =>
      run(options, (miko) =>
        Effect.zipRight(
          miko.call((client) => client.registry.deregister({ path: { service: options.service, id: options.id } })),
          options.json
            ? Console.log(JSON.stringify({ service: options.service, id: options.id, deregistered: true }, null, 2))
            : Console.log(`deregistered ${options.service}/${options.id}`)
        ))
  ).pipe(Command.withDescription("Remove an endpoint of SERVICE"))

  return Command.make("endpoints").pipe(
    Command.withDescription("The endpoint directory"),
    Command.withSubcommands([list, register, deregister])
  )
}

/** `miko services`: each service with its endpoint counts by status. */
export const servicesCommand = (environment: CliEnvironment) =>
  Command.make("services", { ...connectionOptions, json: jsonOption }, (options) =>
    withMiko(environment)(options, (miko) =>
      Effect.flatMap(miko.call((client) => client.registry.services()), (list) =>
        options.json ? printJson(ServiceList, list) : Console.log(serviceTable(list))))).pipe(
      Command.withDescription("List services with their passing, warning and critical endpoints")
    )

