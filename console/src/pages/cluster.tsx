import { hasRole, useConsole } from "../context.js"
import { useLoaded } from "../hooks.js"
import { request } from "../session.js"
import { Time } from "../time.js"
import type { ClusterStatus } from "../types.js"
import { Protection } from "./protection.js"
import { useProtection } from "./services.js"

export const ClusterPage = () => {
  const { state, now } = useConsole()
  const admin = hasRole(state, "admin")
  const protection = useProtection()
  // Replicas check in on their own schedule and no topic carries them: read again on each directory change.
  const cluster = useLoaded(() => (admin ? request<ClusterStatus>("/v1/cluster") : Promise.resolve(undefined)), undefined, [admin, state.directory?.index])
  return (
    <section aria-labelledby="cluster-title">
      <h1 id="cluster-title">Cluster</h1>
      <h2>Lease protection</h2>
      <Protection protection={protection} />
      <h2>Replicas</h2>
      {!admin ? <p class="banner">Replicas and the leader need a token with the <code>admin</code> role, as in the API.</p> : null}
      {cluster.error === undefined ? null : <p class="banner critical" role="alert">{cluster.error}</p>}
      {cluster.value === undefined ? null : (
        <>
          <p>Leader: <strong>{cluster.value.leader ?? "none"}</strong>; this page is served by {cluster.value.replica}.</p>
          <div class="scroll">
            <table class="replicas stack">
              <caption>{cluster.value.replicas.length} replicas</caption>
              <thead>
                <tr><th scope="col">Replica</th><th scope="col">Address</th><th scope="col">Role</th><th scope="col">Live</th><th scope="col">Started</th><th scope="col">Last check-in</th></tr>
              </thead>
              <tbody>
                {cluster.value.replicas.map((replica) => (
                  <tr key={replica.id}>
                    <th scope="row" data-label="Replica">{replica.id}</th>
                    <td data-label="Address">{replica.address}</td>
                    <td data-label="Role">{replica.leader ? "leader" : "follower"}</td>
                    <td data-label="Live">{replica.live ? "yes" : "no"}</td>
                    <td data-label="Started"><Time at={replica.startedAt} now={now} /></td>
                    <td data-label="Check-in">{Math.round(replica.silentFor / 1_000)} s before this read</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  )
}
