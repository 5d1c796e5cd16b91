// A fleet from a process of its own, so that a test can cut the fleet off from Miko by freezing
// it (SIGSTOP) and bring it back (SIGCONT).
//
//   node heartbeater.mjs TOKEN EVERY_MS SERVICE TTL ID...
//
// Messages from the parent: {url} says where Miko is (nothing is sent before; the first time,
// the endpoints are registered with lease TTL), {stop: id} ends one endpoint's heartbeats
// (answered {stopped: id} once no heartbeat of it is left in flight). Each round heartbeats every
// endpoint in a fixed order, five at a time (so each is heard once a round, however long rounds
// take), sends {round: ok} (ok when every answer was 2xx), then waits EVERY_MS.
const [token, every, service, ttl, ...ids] = process.argv.slice(2)
let url
let registered = false
const stopped = new Set()

process.on("message", (message) => {
  if (typeof message.url === "string") url = message.url
  if (typeof message.stop === "string") stopped.add(message.stop)
})
// The test is gone: so is its fleet.
process.on("disconnect", () => process.exit(0))

const call = (method, path, body) =>
  fetch(`${url}/v1/services/${service}/endpoints${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  }).then(async (response) => {
    await response.arrayBuffer()
    return response.ok
  }, () => false)

const register = () => Promise.all(ids.map((id, n) => call("POST", "", { id, internalAddress: `http://10.0.0.${n + 1}:8080`, ttl })))
const heartbeat = async () => {
  const beating = ids.filter((id) => !stopped.has(id))
  const answers = []
  for (let n = 0; n < beating.length; n += 5) {
    answers.push(...await Promise.all(beating.slice(n, n + 5).map((id) => call("PUT", `/${id}/heartbeat`))))
  }
  return answers
}

const round = async () => {
  if (url !== undefined) {
    const answers = registered ? await heartbeat() : await register()
    registered ||= answers.every(Boolean)
    for (const id of stopped) process.send({ stopped: id })
    process.send({ round: answers.every(Boolean) })
  }
  setTimeout(round, Number(every))
}
void round()
