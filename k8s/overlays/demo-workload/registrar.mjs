// Miko registrar sidecar: registers the pod it runs in as an endpoint of a
// service, keeps the registration alive with heartbeats, and removes it
// when the pod shuts down. Runs on plain Node (20+, global fetch), e.g. in
// the Miko image: `node registrar.mjs`. Mounted from a ConfigMap by
// demo-deployment.yaml.
//
// Environment:
//   MIKO_URL            Miko base URL, e.g. http://miko:8740
//   REGISTER_TOKEN      token with role "register", scoped to SERVICE
//   SERVICE             service name, e.g. demo
//   ENDPOINT_ID         id of this endpoint, unique in the service (pod name)
//   INTERNAL_ADDRESS    address other workloads use, e.g. http://10.0.0.7:8080
//   PROTOCOL            default "http"
//   TTL                 default "15s": when no heartbeat arrives within it
//                       (pod killed, node lost) Miko marks the endpoint
//                       critical, and removes it later
//                       (registry.deregisterCriticalAfter)
//   HEARTBEAT_INTERVAL  seconds between heartbeats, default 5 (well below TTL)
//   READY_URL           optional: register only while this URL answers 2xx
//                       (the application's own health check)
//   REQUEST_TIMEOUT     seconds per request to Miko, default 3
//
// Life cycle:
//   1. wait until READY_URL answers, then POST /v1/services/{SERVICE}/endpoints
//   2. every HEARTBEAT_INTERVAL: PUT .../endpoints/{ENDPOINT_ID}/heartbeat;
//      404 (expired, or Miko lost it) registers again at once; if the
//      application stops answering READY_URL the endpoint is removed
//   3. SIGTERM/SIGINT: DELETE .../endpoints/{ENDPOINT_ID}, exit 0
// Miko being unreachable is logged and retried on the next tick; the
// registrar itself never exits on errors, so the pod is not restarted
// because Miko is briefly away.

const env = (name, fallback) => {
  const value = process.env[name];
  if (value !== undefined && value !== "") return value;
  if (fallback !== undefined) return fallback;
  log("error", `missing environment variable ${name}`);
  process.exit(2);
};

function log(level, msg, extra = {}) {
  process.stdout.write(
    JSON.stringify({ time: new Date().toISOString(), level, msg, ...extra }) + "\n",
  );
}

const mikoUrl = env("MIKO_URL").replace(/\/+$/, "");
// Secrets made from files often end with a newline; Miko trims them too.
const token = env("REGISTER_TOKEN").trim();
const service = env("SERVICE");
const id = env("ENDPOINT_ID");
const internalAddress = env("INTERNAL_ADDRESS");
const protocol = env("PROTOCOL", "http");
const ttl = env("TTL", "15s");
const intervalMs = Number(env("HEARTBEAT_INTERVAL", "5")) * 1000;
const readyUrl = process.env.READY_URL || undefined;
const timeoutMs = Number(env("REQUEST_TIMEOUT", "3")) * 1000;

const endpointsPath = `/v1/services/${encodeURIComponent(service)}/endpoints`;
const endpointPath = `${endpointsPath}/${encodeURIComponent(id)}`;
const ctx = { service, id };

const stop = new AbortController();
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    log("info", `received ${signal}, deregistering`, ctx);
    stop.abort();
  });
}

async function miko(method, path, body) {
  const res = await fetch(mikoUrl + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return { status: res.status, ok: res.ok, text: text.slice(0, 300) };
}

async function appReady() {
  if (readyUrl === undefined) return true;
  try {
    const res = await fetch(readyUrl, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

const sleep = (ms) =>
  new Promise((resolve) => {
    if (stop.signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop.signal.removeEventListener("abort", done);
      resolve();
    }
    stop.signal.addEventListener("abort", done);
  });

async function register() {
  const res = await miko("POST", endpointsPath, { id, internalAddress, protocol, ttl });
  if (res.ok) {
    log("info", "registered", { ...ctx, internalAddress, ttl });
    return true;
  }
  log("warning", `registration refused: HTTP ${res.status}`, { ...ctx, body: res.text });
  return false;
}

async function deregister(reason) {
  try {
    const res = await miko("DELETE", endpointPath);
    if (res.ok || res.status === 404) log("info", `deregistered (${reason})`, ctx);
    else log("warning", `deregistration failed: HTTP ${res.status}`, { ...ctx, body: res.text });
  } catch (err) {
    // The TTL removes the endpoint anyway.
    log("warning", `deregistration failed: ${err.message}`, ctx);
  }
}

let registered = false;
while (!stop.signal.aborted) {
  try {
    if (!(await appReady())) {
      if (registered) {
        await deregister("application not ready");
        registered = false;
      }
    } else if (!registered) {
      registered = await register();
    } else {
      const res = await miko("PUT", `${endpointPath}/heartbeat`);
      if (res.status === 404) {
        log("warning", "endpoint unknown to Miko (expired or lost), registering again", ctx);
        registered = false;
        continue;
      }
      if (!res.ok) log("warning", `heartbeat refused: HTTP ${res.status}`, { ...ctx, body: res.text });
    }
  } catch (err) {
    log("warning", `Miko unreachable: ${err.cause?.message ?? err.message}`, ctx);
  }
  await sleep(intervalMs);
}

// Also when a registration was in flight and its answer was lost: a DELETE of
// an unknown endpoint is harmless.
await deregister("shutdown");
process.exit(0);
