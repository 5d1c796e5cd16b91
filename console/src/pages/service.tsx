import { useState } from "preact/hooks"
import { hasRole, useConsole } from "../context.js"
import { Time } from "../time.js"
import type { Endpoint } from "../types.js"

const Address = ({ value }: { readonly value: string | undefined }) =>
  value === undefined ? <span class="muted">—</span> : <code>{value}</code>

const EndpointRow = ({ endpoint, canDeregister, showInternal, onError }: {
  readonly endpoint: Endpoint
  readonly canDeregister: boolean
  readonly showInternal: boolean
  readonly onError: (message: string | undefined) => void
}) => {
  const { live, now } = useConsole()
  const [busy, setBusy] = useState(false)
  const deregister = () => {
    if (!confirm(`Deregister ${endpoint.id} of ${endpoint.service}?`)) return
    setBusy(true)
    onError(undefined)
    live.command("endpoints.deregister", { service: endpoint.service, id: endpoint.id })
      .catch((error: Error) => onError(`${endpoint.id}: ${error.message}`))
      .finally(() => setBusy(false))
  }
  return (
    <tr data-endpoint={endpoint.id}>
      <th scope="row" data-label="Id">{endpoint.id}</th>
      <td data-label="Status"><span class={`status ${endpoint.status}`}>{endpoint.status}</span></td>
      <td data-label="Public"><Address value={endpoint.publicAddress} /></td>
      {showInternal ? <td data-label="Internal"><Address value={endpoint.internalAddress} /></td> : null}
      <td data-label="Tags">{endpoint.tags.join(", ")}</td>
      <td data-label="Zone">{endpoint.zone ?? ""}</td>
      <td data-label="Weight">{endpoint.weight}</td>
      <td data-label="Source">{endpoint.source}</td>
      <td data-label="Heartbeat"><Time at={endpoint.lastSeenAt} now={now} />{endpoint.ttl === undefined ? null : <span class="muted"> ttl {endpoint.ttl}</span>}</td>
      {canDeregister
        ? (
          <td data-label="">
            <button type="button" disabled={busy || endpoint.source === "static"} onClick={deregister} aria-label={`Deregister ${endpoint.id}`}>
              Deregister
            </button>
          </td>
        )
        : null}
    </tr>
  )
}

export const ServicePage = ({ name }: { readonly name?: string }) => {
  const { state } = useConsole()
  const [error, setError] = useState<string | undefined>(undefined)
  const service = decodeURIComponent(name ?? "")
  const endpoints = state.directory?.services[service] ?? []
  const canDeregister = hasRole(state, "register")
  // Internal addresses come only to the internal role; the column is there when the API sent one.
  const showInternal = endpoints.some((endpoint) => endpoint.internalAddress !== undefined)
  return (
    <section aria-labelledby="service-title">
      <p><a href="/ui/">← Services</a></p>
      <h1 id="service-title">{service}</h1>
      {error === undefined ? null : <p class="banner critical" role="alert">{error}</p>}
      {state.directory !== undefined && endpoints.length === 0 ? <p>No endpoint of {service} that you may see.</p> : null}
      <div class="scroll">
        <table class="endpoints stack">
          <caption>
            Endpoints, passing first. The status is the result of the lease and of the active check; the last heartbeat is the
            newest registration or heartbeat as of the endpoint's last change.
          </caption>
          <thead>
            <tr>
              <th scope="col">Id</th><th scope="col">Status</th><th scope="col">Public address</th>{showInternal ? <th scope="col">Internal address</th> : null}
              <th scope="col">Tags</th><th scope="col">Zone</th><th scope="col">Weight</th><th scope="col">Source</th><th scope="col">Last heartbeat</th>
              {canDeregister ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {endpoints.map((endpoint) => <EndpointRow key={endpoint.id} endpoint={endpoint} canDeregister={canDeregister} showInternal={showInternal} onError={setError} />)}
          </tbody>
        </table>
      </div>
    </section>
  )
}
