import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { repoRoot } from "../support/miko.js"

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly type: string
  readonly help: string
  readonly samples: ReadonlyArray<Sample>
}

/** The suite's virtual environment, made by scripts/test.sh with test/metrics/requirements.txt. */
const python = join(repoRoot, ".venv", "bin", "python")

/** Parses the Prometheus text format with prometheus_client's parser (`text_string_to_metric_families`). */
export const parsePrometheus = (text: string): ReadonlyArray<Family> => {
  if (!existsSync(python)) throw new Error(`${python} is missing: scripts/test.sh makes it (python3 -m venv .venv; .venv/bin/pip install -r test/metrics/requirements.txt)`)
  const run = spawnSync(python, [join(repoRoot, "test", "metrics", "parse.py")], { input: text, encoding: "utf8" })
  if (run.status !== 0) throw new Error(`the Prometheus parser refused the text: ${run.stderr}`)
  return JSON.parse(run.stdout) as ReadonlyArray<Family>
}

export interface Scrape {
  readonly text: string
  readonly families: ReadonlyArray<Family>
  /** The value of the sample named `name` whose labels include `labels`; undefined when absent. */
  readonly value: (name: string, labels?: Readonly<Record<string, string>>) => number | undefined
  /** Every sample of that name, with those labels. */
  readonly samples: (name: string, labels?: Readonly<Record<string, string>>) => ReadonlyArray<Sample>
}

const matches = (sample: Sample, labels: Readonly<Record<string, string>>) =>
  Object.entries(labels).every(([key, value]) => sample.labels[key] === value)

/** GET the metrics of a running Miko and parse them. */
export const scrape = async (url: string, options: { readonly token?: string; readonly path?: string } = {}): Promise<Scrape> => {
  const response = await fetch(`${url}${options.path ?? "/metrics"}`, {
    headers: options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }
  })
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${await response.text()}`)
  const text = await response.text()
  const families = parsePrometheus(text)
  const all = families.flatMap((family) => family.samples)
  const samples = (name: string, labels: Readonly<Record<string, string>> = {}) => all.filter((s) => s.name === name && matches(s, labels))
  return { text, families, samples, value: (name, labels) => samples(name, labels)[0]?.value }
}

/** Polls `read` until `check` holds, for series observed or updated a moment after the request. */
export const eventually = async <A>(read: () => Promise<A>, check: (value: A) => boolean, timeoutMs = 5_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await read()
    if (check(value) || Date.now() > deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
