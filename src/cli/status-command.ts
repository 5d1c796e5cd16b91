import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ClusterStatus } from "../cluster/http.js"
import { fields } from "./format.js"
import { serviceTable } from "./registry-commands.js"
import { type CliEnvironment, connectionOptions, jsonOption, withMiko } from "./shared.js"

interface Counts {
  readonly endpoints: number
  readonly passing: number
  readonly warning: number
  readonly critical: number
}

/**
 * What `miko status` reads of `GET /v1/services`. Typed by shape rather than by `ServiceList`,
 * and with `protection` optional, so that the command shows the protection state wherever the
 * answer carries it and simply leaves it out where it does not.
 */
interface ServicesView {
  readonly services: ReadonlyArray<Counts & { readonly name: string }>
  readonly protection?: {
    readonly active: boolean
    readonly threshold: number
    readonly leased: number
    readonly lapsing: number
  } | undefined
}

type Cluster = typeof ClusterStatus.Type

const total = (services: ServicesView["services"]): Counts =>
  services.reduce(
    (sum, service) => ({
      endpoints: sum.endpoints + service.endpoints,
      passing: sum.passing + service.passing,
      warning: sum.warning + service.warning,
      critical: sum.critical + service.critical
    }),
    { endpoints: 0, passing: 0, warning: 0, critical: 0 }
  )

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`

const describeProtection = (protection: NonNullable<ServicesView["protection"]>): string => {
  const counts = `${protection.lapsing} of ${protection.leased} leased endpoints lapsing, threshold ${protection.threshold}`
  if (protection.active) return `ACTIVE: no lease expires until heartbeats return (${counts})`
  return protection.threshold === 0 ? "disabled (registry.protection.threshold is 0)" : `off (${counts})`
}

const describeLeader = (cluster: Option.Option<Cluster>): string =>
  Option.match(cluster, {
    onNone: () => "unknown (reading it needs an admin token)",
    onSome: ({ leader, replicas }) =>
      `${leader ?? "none"} (${replicas.filter((replica) => replica.live).length} of ${replicas.length} replicas live)`
  })

const human = (address: string, version: string, list: ServicesView, cluster: Option.Option<Cluster>): string => {
  const sum = total(list.services)
  const summary = fields([
    ["miko", `${version} at ${address}`],
    ["services", `${list.services.length} (${count(sum.endpoints, "endpoint")}: ${sum.passing} passing, ${sum.warning} warning, ${sum.critical} critical)`],
    ["leader", describeLeader(cluster)],
    ["protection", list.protection === undefined ? undefined : describeProtection(list.protection)]
  ])
  return list.services.length === 0 ? summary : `${summary}\n\n${serviceTable(list)}`
}

const json = (address: string, version: string, list: ServicesView, cluster: Option.Option<Cluster>) => ({
  address,
  version,
  totals: { services: list.services.length, ...total(list.services) },
  services: list.services,
  // null, not absent: the token could not read the cluster, which a script may want to tell apart.
  cluster: Option.match(cluster, {
    onNone: () => null,
    onSome: ({ leader, replica, replicas }) => ({ leader, replica, replicas: replicas.length, live: replicas.filter((r) => r.live).length })
  }),
  ...(list.protection === undefined ? {} : { protection: list.protection })
})

/** `miko status`: the directory at a glance. */
export const statusCommand = (environment: CliEnvironment) =>
  Command.make("status", { ...connectionOptions, json: jsonOption }, (options) =>
    withMiko(environment)(options, (miko) =>
      Effect.gen(function*() {
        const health = yield* miko.call((client) => client.system.healthz())
        const list: ServicesView = yield* miko.call((client) => client.registry.services())
        // The cluster view needs the admin role; any other token still gets the rest of the status.
        const cluster = yield* miko.call((client) => client.cluster.status()).pipe(
          Effect.asSome,
          Effect.catchIf((error) => error.kind === "denied", () => Effect.succeedNone)
        )
        return yield* options.json
          ? Console.log(JSON.stringify(json(miko.address, health.version, list, cluster), null, 2))
          : Console.log(human(miko.address, health.version, list, cluster))
      }))).pipe(Command.withDescription("Services with their passing, warning and critical counts, the cluster leader and lease protection"))
