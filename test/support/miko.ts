import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { stringify } from "yaml"
import { freshDatabase, testDriver } from "./postgres.js"

export const repoRoot = resolve(import.meta.dirname, "..", "..")
export const binPath = join(repoRoot, "bin", "miko.js")

/** A fresh directory, removed by `cleanup`. */
export const tempDir = (prefix = "miko-test-") => mkdtempSync(join(tmpdir(), prefix))

/** The environment without any MIKO_* variable of the developer's own shell. */
export const cleanEnv = (extra: Record<string, string> = {}, home?: string): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("MIKO_")) env[key] = value
  if (home !== undefined) {
    env["HOME"] = home
    env["XDG_CONFIG_HOME"] = join(home, ".config")
  }
  return { ...env, ...extra }
}

export interface Miko {
  readonly dir: string
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  readonly output: () => string
  readonly token: () => string
  /** Sends a signal and resolves with the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
  readonly exited: Promise<number | null>
}

export interface StartOptions {
  /**
   * Written to config.yaml in the directory; `http.port: 0` is added unless given. With
   * MIKO_TEST_DRIVER=postgres and no `storage` key, a postgres `storage` is added too.
   */
  readonly config?: Record<string, unknown>
  readonly env?: Record<string, string>
  /** Reuse a directory (for restarts). */
  readonly dir?: string
  readonly args?: ReadonlyArray<string>
}

/**
 * The `storage` the test driver needs when the config has none: on postgres, a fresh
 * database, remembered in the directory so that a restart on the same `dir` reuses it.
 */
const testStorage = async (dir: string, config: Record<string, unknown>): Promise<Record<string, unknown>> => {
  if (testDriver() !== "postgres" || "storage" in config) return {}
  const remembered = join(dir, ".postgres-url")
  let url = existsSync(remembered) ? readFileSync(remembered, "utf8").trim() : ""
  if (url === "") {
    url = await freshDatabase()
    writeFileSync(remembered, url)
  }
  return { storage: { driver: "postgres", postgres: { url } } }
}

/** Starts `miko serve` as a real process and waits until it listens. */
export const startMiko = async (options: StartOptions = {}): Promise<Miko> => {
  const dir = options.dir ?? tempDir()
  const config = { ...(options.config ?? {}), ...(await testStorage(dir, options.config ?? {})) }
  const http = (config["http"] ?? {}) as Record<string, unknown>
  writeFileSync(join(dir, "config.yaml"), stringify({ ...config, http: { port: 0, ...http } }))
  const child = spawn(binPath, ["serve", ...(options.args ?? [])], {
    cwd: dir,
    env: cleanEnv(options.env, dir),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)))
  const port = await new Promise<number>((resolvePort, reject) => {
    const check = () => {
      const match = /Listening on http:\/\/[^:]+:(\d+)/.exec(output)
      if (match) {
        child.stdout!.off("data", check)
        child.stderr!.off("data", check)
        resolvePort(Number(match[1]))
      }
    }
    child.stdout!.on("data", check)
    child.stderr!.on("data", check)
    void exited.then((code) => reject(new Error(`miko exited with ${code} before listening:\n${output}`)))
  })
  const url = `http://127.0.0.1:${port}`
  return {
    dir,
    url,
    port,
    child,
    output: () => output,
    token: () => readFileSync(join(dir, "data", "admin-token"), "utf8").trim(),
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal)
      return exited
    }
  }
}

/** Runs the binary to completion: for commands and for configurations that must fail. */
export const runMiko = (
  args: ReadonlyArray<string>,
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }
): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolveRun) => {
    const child = spawn(process.execPath, [binPath, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env, options.cwd),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 15_000)
    child.once("exit", (code) => {
      clearTimeout(timer)
      resolveRun({ code, stdout, stderr })
    })
  })

/** A parsed JSON answer, indexable at any depth (and usable as a list) for assertions. */
export type Json = { readonly [key: string]: Json } & ReadonlyArray<Json>

export interface JsonResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: Json
}

/** A JSON request; the body of any answer is parsed when it is JSON. */
export const api = async (
  url: string,
  options: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}
): Promise<JsonResponse> => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
  if (options.body !== undefined) headers["content-type"] ??= "application/json"
  const response = await fetch(url, {
    method: options.method ?? "GET",
    headers,
    ...(options.body === undefined ? {} : { body: typeof options.body === "string" ? options.body : JSON.stringify(options.body) })
  })
  const text = await response.text()
  let body: unknown = text
  try {
    body = text === "" ? undefined : JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, headers: response.headers, body: body as Json }
}

export const cleanup = (dir: string) => {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true })
}
