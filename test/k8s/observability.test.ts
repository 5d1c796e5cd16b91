// Prometheus and Grafana in Kubernetes: the pods of the base and of the ha overlay carry the
// prometheus.io/* scrape annotations for Miko's port and metrics path; k8s/observability renders
// the Grafana dashboard as a valid ConfigMap for Grafana's sidecar; and every query of the
// dashboard names series that GET /metrics of a real Miko serves, read with prometheus_client.
import { execFileSync, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseAllDocuments } from "yaml"
import { api, cleanup, type Miko, repoRoot, startMiko } from "../support/miko.js"
import { scrape } from "../metrics/support.js"

const kustomize = path.join(repoRoot, ".tools/bin/kustomize")
const python = path.join(repoRoot, ".tools/venv/bin/python")
const dashboardFile = path.join(repoRoot, "k8s/observability/miko-dashboard.json")

interface Manifest {
  readonly kind: string
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> }
  readonly data?: Record<string, string>
  readonly spec?: {
    readonly template?: {
      readonly metadata?: { readonly annotations?: Record<string, string> }
      readonly spec: { readonly containers: ReadonlyArray<{ readonly name: string; readonly ports?: ReadonlyArray<{ readonly name?: string; readonly containerPort: number }> }> }
    }
  }
}

interface Panel {
  readonly title?: string
  readonly targets?: ReadonlyArray<{ readonly expr?: string }>
  readonly panels?: ReadonlyArray<Panel>
}

interface Dashboard {
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly definition?: string }> }
}

const render = (target: string): ReadonlyArray<Manifest> =>
  parseAllDocuments(execFileSync(kustomize, ["build", path.join(repoRoot, target)], { encoding: "utf8" }), { version: "1.1" })
    .map((doc) => doc.toJS() as Manifest)

/** Every PromQL query of the dashboard, with where it is: panel targets (rows included) and variables. */
const queriesOf = (dashboard: Dashboard): ReadonlyArray<{ readonly where: string; readonly expr: string }> => {
  const fromPanels = (panels: ReadonlyArray<Panel>): ReadonlyArray<{ where: string; expr: string }> =>
    panels.flatMap((panel) => [
      ...(panel.targets ?? []).flatMap((target) => (target.expr === undefined ? [] : [{ where: `panel "${panel.title}"`, expr: target.expr }])),
      ...fromPanels(panel.panels ?? [])
    ])
  const variables = dashboard.templating.list.flatMap((variable) =>
    variable.definition === undefined ? [] : [{ where: `variable ${variable.name}`, expr: variable.definition }])
  return [...fromPanels(dashboard.panels), ...variables]
}

beforeAll(() => {
  execFileSync("bash", [path.join(repoRoot, "scripts/install-tools.sh"), "kustomize", "validator"], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] })
}, 600_000)

describe("scrape annotations", () => {
  it.each([["k8s/base", "StatefulSet"], ["k8s/overlays/ha", "Deployment"]])("%s: the %s's pods name Miko's port and metrics path", (target, kind) => {
    const workload = render(target).find((object) => object.kind === kind && object.metadata.name === "miko")
    const annotations = workload?.spec?.template?.metadata?.annotations ?? {}
    expect(annotations["prometheus.io/scrape"]).toBe("true")
    expect(annotations["prometheus.io/path"]).toBe("/metrics")
    const miko = workload?.spec?.template?.spec.containers.find((container) => container.name === "miko")
    const http = miko?.ports?.find((port) => port.name === "http")
    expect(annotations["prometheus.io/port"]).toBe(String(http?.containerPort))
  })
})

describe("k8s/observability", () => {
  it("renders the dashboard as a valid ConfigMap labelled for Grafana's sidecar", () => {
    const objects = render("k8s/observability")
    expect(objects).toHaveLength(1)
    const [configMap] = objects
    expect(configMap?.kind).toBe("ConfigMap")
    expect(configMap?.metadata.labels?.["grafana_dashboard"]).toBe("1")
    expect(configMap?.data?.["miko-dashboard.json"]).toBe(readFileSync(dashboardFile, "utf8"))
    const run = spawnSync(python, [path.join(repoRoot, "test/k8s/validate.py")], {
      input: JSON.stringify({ versions: ["1.30.0", "latest"], documents: [{ id: "dashboard", object: configMap }] }),
      encoding: "utf8"
    })
    expect(run.status, run.stderr).toBe(0)
    for (const result of (JSON.parse(run.stdout) as { results: ReadonlyArray<{ ok: boolean; error: string | null }> }).results) {
      expect(result.ok, result.error ?? "").toBe(true)
    }
  })
})

describe("the dashboard's queries against a live scrape", () => {
  let miko: Miko
  beforeAll(async () => {
    miko = await startMiko()
    // Series that exist once something happened: a request answered, an endpoint registered.
    await api(`${miko.url}/v1/services/web/endpoints`, { method: "POST", token: miko.token(), body: { publicAddress: "https://web.example.com" } })
    await api(`${miko.url}/v1/endpoints`)
  })
  afterAll(async () => {
    await miko.stop("SIGKILL")
    cleanup(miko.dir)
  })

  it("every query names at least one miko_* series, and each one is served by GET /metrics", async () => {
    const dashboard = JSON.parse(readFileSync(dashboardFile, "utf8")) as Dashboard
    const queries = queriesOf(dashboard)
    expect(queries.length).toBeGreaterThan(20)
    const { families } = await scrape(miko.url)
    const served = new Set(families.flatMap((family) => [family.name, ...family.samples.map((sample) => sample.name)]))
    const missing: Array<string> = []
    for (const { where, expr } of queries) {
      const names = expr.match(/\bmiko_[a-z0-9_]+/g) ?? []
      if (names.length === 0) missing.push(`${where}: names no miko_* series: ${expr}`)
      for (const name of names) if (!served.has(name)) missing.push(`${where}: ${name} is not served`)
    }
    expect(missing).toEqual([])
  })
})
