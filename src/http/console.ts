import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { extname, join, sep } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { preferredCoding } from "../shared/content-coding.js"

/**
 * The web console at `/ui`: the files `npm run build` writes to `dist/console/` (scripts/bundle-console.mjs),
 * served from memory. The console is a client of the API and the WebSocket like any other; nothing
 * here decides what a caller may see.
 */

interface Asset {
  readonly body: Uint8Array
  readonly gzip: Uint8Array
  readonly etag: string
  readonly type: string
  /** Hashed names never change content, so browsers may keep them for good. */
  readonly immutable: boolean
}

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".map": "application/json"
}

/** No inline script or style, nothing from another origin; the WebSocket is same-origin (`'self'` covers ws:). */
export const consoleSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const securityHeaders = {
  "content-security-policy": consoleSecurityPolicy,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

const toAsset = (name: string, body: Uint8Array): Asset => ({
  body,
  gzip: gzipSync(body, { level: 9 }),
  etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
  type: types[extname(name)] ?? "application/octet-stream",
  immutable: name.startsWith("assets/")
})

/** The built console next to the running module: `dist/miko.mjs` (bundled) or `dist/http/console.js`. */
const consoleDirectory = (): string | undefined =>
  [new URL("console/", import.meta.url), new URL("../console/", import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((dir) => existsSync(join(dir, "index.html")))

const loadAssets = (dir: string): ReadonlyMap<string, Asset> => {
  const assets = new Map<string, Asset>()
  for (const relative of readdirSync(dir, { recursive: true, encoding: "utf8" })) {
    const file = join(dir, relative)
    if (!statSync(file).isFile()) continue
    const name = relative.split(sep).join("/")
    assets.set(name, toAsset(name, readFileSync(file)))
  }
  return assets
}

const respond = (request: HttpServerRequest.HttpServerRequest, asset: Asset) => {
  const headers = {
    ...securityHeaders,
    etag: asset.etag,
    vary: "accept-encoding",
    "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache"
  }
  if (request.headers["if-none-match"] === asset.etag) return HttpServerResponse.empty({ status: 304, headers })
  const gzip = preferredCoding(request.headers["accept-encoding"], ["gzip"]) === "gzip"
  return HttpServerResponse.uint8Array(gzip ? asset.gzip : asset.body, {
    contentType: asset.type,
    headers: gzip ? { ...headers, "content-encoding": "gzip" } : headers
  })
}

const notFound = (message: string) =>
  HttpServerResponse.unsafeJson({ error: { code: "not_found", message } }, { status: 404, headers: securityHeaders })

/** `/ui/assets/...` is a file or a 404; any other path under `/ui` is a page of the console, answered with index.html. */
const serve = (assets: ReadonlyMap<string, Asset>) =>
  Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
    // Asset names are plain ASCII: no decoding needed, and a malformed escape is simply not found.
    const path = request.url.split("?")[0]!.replace(/^\/ui\/?/, "")
    const index = assets.get("index.html")
    if (index === undefined) return notFound("the console is not built: run npm run build")
    if (!path.startsWith("assets/")) return respond(request, index)
    const asset = assets.get(path)
    return asset === undefined ? notFound(`no console file ${path}`) : respond(request, asset)
  })

/** `GET /ui` and everything under it. */
export const layerConsoleRoute = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    // Read once at start: the files of a build never change while it runs.
    const assets = yield* Effect.sync(() => {
      const dir = consoleDirectory()
      return dir === undefined ? new Map<string, Asset>() : loadAssets(dir)
    })
    const handler = serve(assets)
    yield* router.get("/ui", handler)
    yield* router.get("/ui/*", handler)
  })
)
