import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import { version } from "../shared/version.js"
import { configCommand } from "./config-commands.js"
import { kvCommand } from "./kv-commands.js"
import { endpointsCommand, servicesCommand } from "./registry-commands.js"
import { eventsCommand, tasksCommand } from "./task-commands.js"
import { type CliEnvironment, configOption } from "./shared.js"
import { statusCommand } from "./status-command.js"

export type { CliEnvironment } from "./shared.js"

/** The `miko` command line: the service itself, and the commands that talk to a running one. */
export const makeCli = (environment: CliEnvironment) => {
  const serve = Command.make("serve", { config: configOption }, ({ config }) => environment.serve(config)).pipe(
    Command.withDescription("Run Miko: the HTTP API on http.host:http.port with state in general.dataDir")
  )

  const versionCommand = Command.make("version", {}, () => Console.log(version)).pipe(
    Command.withDescription("Print the version")
  )

  const miko = Command.make("miko").pipe(
    Command.withDescription("Miko: service directory and runtime"),
    Command.withSubcommands([
      serve,
      statusCommand(environment),
      servicesCommand(environment),
      endpointsCommand(environment),
      tasksCommand(environment),
      eventsCommand(environment),
      configCommand(environment),
      kvCommand(environment),
      versionCommand
    ])
  )

  return Command.run(miko, { name: "miko", version })
}
