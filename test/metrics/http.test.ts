// GET /metrics of a real Miko, parsed with Prometheus' own text parser (prometheus_client):
// HTTP requests by route template, method and status, on the API and on the read fast path;
// the access setting; disabled and moved paths.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { eventually, scrape } from "./support.js"

const admin = "admin-secret-0123456789"
const scraper = "scraper-secret-0123456789"
const registrar = "registrar-secret-0123456789"
const tokens = [
  { name: "ops-admin-token", secret: admin, roles: ["admin"] },
  { name: "prometheus-scraper-token", secret: scraper, roles: ["metrics"] },
  { name: "billing-registrar-token", secret: registrar, roles: ["register"] }
]

const requests = (route: string, method: string, status: string) => ({ route, method, status })

describe("GET /metrics, open (the default)", () => {
  let miko: Miko
  beforeAll(async () => {
    miko = await startMiko({ config: { auth: { tokens } } })
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  it("parses as the Prometheus text format, every series miko_*", async () => {
    const response = await fetch(`${miko.url}/metrics`)
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4")
    const { families } = await scrape(miko.url)
    expect(families.length).toBeGreaterThan(0)
    for (const family of families) expect(family.name).toMatch(/^miko_[a-z0-9_]+$/)
    expect((await scrape(miko.url)).value("miko_build_info")).toBe(1)
  })

  it("counts requests by route template, method and status, on the API and on the fast path", async () => {
    const before = await scrape(miko.url)
    const count = (s: typeof before, labels: Record<string, string>) => s.value("miko_http_requests_total", labels) ?? 0
    const registered = await api(`${miko.url}/v1/services/billing/endpoints`, {
      method: "POST",
      token: registrar,
      body: { id: "billing-1", publicAddress: "https://billing-7f3a.example.com", internalAddress: "http://10.77.0.7:8080", ttl: "30s" }
    })
    expect(registered.status).toBe(201)
    await api(`${miko.url}/v1/endpoints`)
    await api(`${miko.url}/v1/endpoints?service=billing`, { token: admin })
    await api(`${miko.url}/healthz`)
    await api(`${miko.url}/v1/services/billing/endpoints/billing-1/heartbeat`, { method: "PUT", token: registrar })
    await api(`${miko.url}/v1/services/billing`)
    await api(`${miko.url}/v1/config`)
    await api(`${miko.url}/no/such/path-4711`)
    const after = await scrape(miko.url)
    const moved = (labels: Record<string, string>) => count(after, labels) - count(before, labels)
    expect(moved(requests("/v1/services/:service/endpoints", "POST", "201"))).toBe(1)
    expect(moved(requests("/v1/endpoints", "GET", "200"))).toBe(2)
    expect(moved(requests("/healthz", "GET", "200"))).toBe(1)
    expect(moved(requests("/v1/services/:service/endpoints/:id/heartbeat", "PUT", "200"))).toBe(1)
    expect(moved(requests("/v1/services/:service", "GET", "200"))).toBe(1)
    expect(moved(requests("/v1/config", "GET", "401"))).toBe(1)
    expect(moved(requests("unmatched", "GET", "404"))).toBe(1)
    // The scrape before this one is counted too, under the path's own route.
    expect(moved(requests("/metrics", "GET", "200"))).toBeGreaterThanOrEqual(1)
    const histogram = after.samples("miko_http_request_duration_seconds_count", { route: "/v1/endpoints", method: "GET" })
    expect(histogram[0]?.value).toBeGreaterThanOrEqual(2)
    expect(after.samples("miko_http_request_duration_seconds_bucket", { route: "/v1/endpoints", le: "+Inf" })[0]?.value).toBe(histogram[0]?.value)
    // Raw URLs never become labels.
    expect(after.text).not.toContain("billing-1")
    expect(after.text).not.toContain("4711")
  })

  it("carries no address, token name or secret", async () => {
    const { text } = await scrape(miko.url)
    for (const secret of ["billing-7f3a", "10.77.0.7", "ops-admin-token", "prometheus-scraper-token", "billing-registrar-token", admin, scraper, registrar]) {
      expect(text).not.toContain(secret)
    }
  })

  it("a token Miko does not know is a 401, as on every route", async () => {
    const response = await api(`${miko.url}/metrics`, { token: "not-a-token-at-all-0123" })
    expect(response.status).toBe(401)
    expect(response.body.error.code).toBe("unauthorized")
  })

  it("telemetry.prometheus.enabled false answers 404 at once, and true serves again", async () => {
    expect((await api(`${miko.url}/v1/config/telemetry.prometheus.enabled`, { method: "PUT", token: admin, body: { value: false } })).status).toBe(200)
    const off = await api(`${miko.url}/metrics`)
    expect(off.status).toBe(404)
    expect(off.body.error.code).toBe("not_found")
    expect((await api(`${miko.url}/v1/config/telemetry.prometheus.enabled`, { method: "PUT", token: admin, body: { value: true } })).status).toBe(200)
    expect((await fetch(`${miko.url}/metrics`)).status).toBe(200)
  })
})

describe("GET /metrics behind a role", () => {
  let miko: Miko
  beforeAll(async () => {
    miko = await startMiko({ config: { auth: { tokens }, telemetry: { prometheus: { access: "metrics" } } } })
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  it("access metrics: anonymous 401, a token without the role 403, the metrics role or admin 200", async () => {
    const anonymous = await api(`${miko.url}/metrics`)
    expect(anonymous.status).toBe(401)
    expect(anonymous.body.error.code).toBe("unauthorized")
    const registrarAnswer = await api(`${miko.url}/metrics`, { token: registrar })
    expect(registrarAnswer.status).toBe(403)
    expect(registrarAnswer.body.error.code).toBe("forbidden")
    expect((await scrape(miko.url, { token: scraper })).value("miko_build_info")).toBe(1)
    expect((await scrape(miko.url, { token: admin })).value("miko_build_info")).toBe(1)
  })

  it("access admin, set live: the metrics role is 403 and admin 200", async () => {
    expect((await api(`${miko.url}/v1/config/telemetry.prometheus.access`, { method: "PUT", token: admin, body: { value: "admin" } })).status).toBe(200)
    const answer = await eventually(() => api(`${miko.url}/metrics`, { token: scraper }), (r) => r.status === 403)
    expect(answer.status).toBe(403)
    expect((await api(`${miko.url}/metrics`)).status).toBe(401)
    expect((await scrape(miko.url, { token: admin })).value("miko_build_info")).toBe(1)
  })
})

describe("GET /metrics elsewhere or off", () => {
  it("telemetry.prometheus.path moves it; the default path is then unknown", async () => {
    const miko = await startMiko({ config: { telemetry: { prometheus: { path: "/internal/prometheus" } } } })
    try {
      expect((await api(`${miko.url}/metrics`)).status).toBe(404)
      const moved = await scrape(miko.url, { path: "/internal/prometheus" })
      expect(moved.value("miko_build_info")).toBe(1)
    } finally {
      await miko.stop("SIGKILL")
      cleanup(miko.dir)
    }
  })

  it("disabled from the start: 404 with the error envelope, whatever the token", async () => {
    const miko = await startMiko({ config: { telemetry: { prometheus: { enabled: false } } } })
    try {
      const answer = await api(`${miko.url}/metrics`)
      expect(answer.status).toBe(404)
      expect(answer.body.error.code).toBe("not_found")
      expect((await api(`${miko.url}/metrics`, { token: miko.token() })).status).toBe(404)
    } finally {
      await miko.stop("SIGKILL")
      cleanup(miko.dir)
    }
  })

  it("a path inside the API is refused at start", async () => {
    const { runMiko, tempDir } = await import("../support/miko.js")
    const dir = tempDir()
    try {
      const { writeFileSync } = await import("node:fs")
      writeFileSync(`${dir}/config.yaml`, "telemetry:\n  prometheus:\n    path: /v1/metrics\n")
      const run = await runMiko(["serve"], { cwd: dir })
      expect(run.code).toBe(2)
      expect(run.stderr + run.stdout).toContain("telemetry.prometheus.path")
    } finally {
      cleanup(dir)
    }
  })
})
