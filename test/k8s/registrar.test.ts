// Behaviour of the registrar sidecar script of the demo-workload overlay
// (k8s/overlays/demo-workload/registrar.mjs), run as a real process against
// a stand-in for Miko's registration API and the application's health check,
// both on 127.0.0.1. Heartbeats are sped up to milliseconds.

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const script = path.join(root, "k8s/overlays/demo-workload/registrar.mjs");
const TOKEN = "test-register-token-0123456789";

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** Stand-in for Miko and for the app's health check, on one loopback port. */
class FakeMiko {
  readonly requests: Recorded[] = [];
  appHealthy = false;
  /** Status codes for the next heartbeats, then 204. */
  heartbeatReplies: number[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => {
        body += chunk;
      });
      req.on("end", () => {
        const url = req.url ?? "";
        if (url === "/health") {
          res.writeHead(this.appHealthy ? 200 : 503).end();
          return;
        }
        this.requests.push({ method: req.method ?? "", url, authorization: req.headers.authorization, body });
        if (req.method === "PUT" && url.endsWith("/heartbeat")) {
          res.writeHead(this.heartbeatReplies.shift() ?? 204).end();
        } else if (req.method === "POST") {
          res.writeHead(201, { "content-type": "application/json" }).end(body);
        } else {
          res.writeHead(204).end();
        }
      });
    });
  }

  async listen(): Promise<string> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(method: string, suffix = ""): number {
    return this.requests.filter((r) => r.method === method && r.url.endsWith(suffix)).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(mikoUrl: string, readyUrl: string | undefined): Promise<{ child: ChildProcess; output: () => string }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    MIKO_URL: `${mikoUrl}/`,
    REGISTER_TOKEN: `${TOKEN}\n`,
    SERVICE: "demo",
    ENDPOINT_ID: "demo-7d9c-x2k4f",
    INTERNAL_ADDRESS: "http://10.1.2.3:8080",
    PROTOCOL: "http",
    TTL: "15s",
    HEARTBEAT_INTERVAL: "0.02",
    REQUEST_TIMEOUT: "1",
  };
  if (readyUrl !== undefined) env.READY_URL = readyUrl;
  const child = spawn(process.execPath, [script], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  });
  return { child, output: () => output };
}

async function stopWith(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  const exited = once(child, "exit");
  child.kill(signal);
  const [code] = (await exited) as [number | null];
  return code;
}

describe("registrar sidecar", () => {
  it("registers once the app is healthy, heartbeats, and deregisters on SIGTERM", async () => {
    const miko = new FakeMiko();
    cleanups.push(() => miko.close());
    const url = await miko.listen();
    const { child } = await start(url, `${url}/health`);

    // Not registered while the app does not answer its health check.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(miko.requests).toEqual([]);

    miko.appHealthy = true;
    await waitFor("registration", () => miko.count("POST") === 1);
    const post = miko.requests[0];
    expect(post?.url).toBe("/v1/services/demo/endpoints");
    expect(post?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(post?.body ?? "")).toEqual({
      id: "demo-7d9c-x2k4f",
      internalAddress: "http://10.1.2.3:8080",
      protocol: "http",
      ttl: "15s",
    });

    await waitFor("heartbeats", () => miko.count("PUT") >= 3);
    for (const r of miko.requests.filter((x) => x.method === "PUT")) {
      expect(r.url).toBe("/v1/services/demo/endpoints/demo-7d9c-x2k4f/heartbeat");
      expect(r.authorization).toBe(`Bearer ${TOKEN}`);
    }

    expect(await stopWith(child, "SIGTERM")).toBe(0);
    const last = miko.requests.at(-1);
    expect(last?.method).toBe("DELETE");
    expect(last?.url).toBe("/v1/services/demo/endpoints/demo-7d9c-x2k4f");
    expect(last?.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it("registers again when Miko no longer knows the endpoint", async () => {
    const miko = new FakeMiko();
    cleanups.push(() => miko.close());
    const url = await miko.listen();
    miko.appHealthy = true;
    miko.heartbeatReplies = [204, 404];
    const { child } = await start(url, `${url}/health`);

    await waitFor("second registration", () => miko.count("POST") === 2);
    await waitFor("heartbeat after it", () => miko.requests.at(-1)?.method === "PUT");
    expect(await stopWith(child, "SIGTERM")).toBe(0);
  });

  it("deregisters while the app is unhealthy and registers when it recovers", async () => {
    const miko = new FakeMiko();
    cleanups.push(() => miko.close());
    const url = await miko.listen();
    miko.appHealthy = true;
    const { child } = await start(url, `${url}/health`);

    await waitFor("registration", () => miko.count("POST") === 1 && miko.count("PUT") >= 1);
    miko.appHealthy = false;
    await waitFor("deregistration", () => miko.count("DELETE") === 1);
    const putsAfterDelete = miko.count("PUT");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(miko.count("PUT"), "no heartbeats while deregistered").toBe(putsAfterDelete);
    miko.appHealthy = true;
    await waitFor("registration again", () => miko.count("POST") === 2);
    expect(await stopWith(child, "SIGTERM")).toBe(0);
  });

  it("keeps running while Miko is unreachable and exits cleanly on SIGTERM", async () => {
    // A port that was just free: connections are refused.
    const probe = new FakeMiko();
    const url = await probe.listen();
    await probe.close();
    const { child, output } = await start(url, undefined);

    await waitFor("an unreachable-Miko log line", () => output().includes("Miko unreachable"));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(child.exitCode).toBeNull();
    expect(await stopWith(child, "SIGTERM")).toBe(0);
    for (const line of output().trim().split("\n")) {
      expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    }
  });
});
