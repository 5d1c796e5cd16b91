import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { api, cleanup, type Miko, startMiko } from "../support/miko.js"
import { chromiumInstalled, chromiumPath, launchBrowser } from "./browser.js"

/**
 * The web console at /ui in a real headless Chromium against a real Miko. Without Chromium
 * the first test fails (scripts/install-tools.sh installs it) and the scenarios are skipped,
 * so a missing browser counts as one failure.
 */

it("Chromium is installed for the console tests", () => {
  expect(chromiumInstalled, `no Chromium at ${chromiumPath}: run scripts/install-tools.sh chromium`).toBe(true)
})

describe.skipIf(!chromiumInstalled)("the web console at /ui", () => {
  let miko: Miko
  let browser: Browser
  let admin: string

  const register = (service: string, body: Record<string, unknown>) =>
    api(`${miko.url}/v1/services/${service}/endpoints`, { method: "POST", token: admin, body })

  /** A new tab; with a token, entered in the form as a person would. Fails the test on any CSP report or page error. */
  const open = async (path: string, token?: string): Promise<{ context: BrowserContext; page: Page; problems: Array<string> }> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    const page = await context.newPage()
    const problems: Array<string> = []
    page.on("pageerror", (error) => problems.push(error.message))
    page.on("console", (message) => {
      if (message.type() === "error" && /Content Security Policy|Refused/.test(message.text())) problems.push(message.text())
    })
    await page.goto(`${miko.url}${path}`)
    if (token !== undefined) {
      await page.getByLabel("Access token").fill(token)
      await page.getByRole("button", { name: "Use token" }).click()
      await page.getByText(/Signed in: .*\(admin\)/).waitFor()
    }
    await page.locator("[data-link=live]").waitFor()
    return { context, page, problems }
  }

  beforeAll(async () => {
    browser = await launchBrowser()
    miko = await startMiko()
    admin = miko.token()
    expect((await register("billing", {
      id: "billing-1",
      publicAddress: "https://billing.example.com",
      internalAddress: "http://10.0.0.7:8080",
      tags: ["payments"],
      zone: "eu-1"
    })).status).toBe(201)
    expect((await register("ledger", { id: "ledger-1", internalAddress: "http://10.0.0.8:8080" })).status).toBe(201)
  })

  afterAll(async () => {
    await browser?.close()
    await miko?.stop()
    if (miko !== undefined) cleanup(miko.dir)
  })

  it("serves the console from memory: CSP, ETag, gzip, immutable hashed files, pages as index.html", async () => {
    const page = await fetch(`${miko.url}/ui/services/billing`)
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/^text\/html/)
    const csp = page.headers.get("content-security-policy") ?? ""
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).not.toContain("unsafe-inline")
    const html = await page.text()
    expect(html).not.toMatch(/<script>|<style|style=/)
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(html)![1]!
    const asset = await fetch(`${miko.url}${script}`, { headers: { "accept-encoding": "gzip" } })
    expect(asset.headers.get("content-encoding")).toBe("gzip")
    expect(asset.headers.get("cache-control")).toContain("immutable")
    const etag = asset.headers.get("etag")!
    expect((await fetch(`${miko.url}${script}`, { headers: { "if-none-match": etag } })).status).toBe(304)
    expect((await fetch(`${miko.url}/ui/assets/nothing.js`)).status).toBe(404)
    expect((await fetch(`${miko.url}/ui`)).headers.get("cache-control")).toBe("no-cache")
  })

  it("an anonymous visitor sees the services and only public addresses", async () => {
    const { context, page, problems } = await open("/ui/")
    const billing = page.locator("tr[data-service=billing]")
    await billing.waitFor()
    await expect(billing.locator("td.passing").textContent()).resolves.toBe("1")
    // ledger has only an internal address: anonymous callers of the API do not see it at all.
    expect(await page.locator("tr[data-service=ledger]").count()).toBe(0)
    // Search and the zone filter narrow the list in the page.
    await page.getByLabel("Search").fill("zzz")
    await page.locator("tr[data-service]").first().waitFor({ state: "detached" })
    await page.getByLabel("Search").fill("")
    await page.getByLabel("Zone").selectOption("eu-1")
    await page.locator("tr[data-service=billing]").waitFor()
    expect(await page.locator("tr[data-service]").count()).toBe(1)
    await billing.getByRole("link", { name: "billing" }).click()
    await page.locator("tr[data-endpoint=billing-1]").waitFor()
    const text = await page.locator("main").textContent()
    expect(text).toContain("https://billing.example.com")
    expect(text).not.toContain("10.0.0.7")
    expect(await page.getByRole("button", { name: /Deregister/ }).count()).toBe(0)
    expect(problems).toEqual([])
    await context.close()
  })

  it("at 360 px wide a page needs no sideways scrolling, and the keyboard reaches every link and control", async () => {
    const { context, page, problems } = await open("/ui/services/billing")
    await page.setViewportSize({ width: 360, height: 740 })
    await page.locator("tr[data-endpoint=billing-1]").waitFor()
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(360)
    const reached = new Set<string>()
    for (let n = 0; n < 12; n++) {
      await page.keyboard.press("Tab")
      // A string, run in the page: the test's own TypeScript has no DOM types.
      reached.add(await page.evaluate<string>("document.activeElement?.id || document.activeElement?.textContent?.trim() || ''"))
    }
    expect([...reached]).toEqual(expect.arrayContaining(["Services", "Tasks", "Config", "Cluster", "token", "Use token", "← Services"]))
    expect(problems).toEqual([])
    await context.close()
  })

  it("an endpoint registered over the API while the page is open appears within a second, anonymous or signed in", async () => {
    const anonymous = await open("/ui/")
    const signedIn = await open("/ui/services/search", admin)
    await register("search", { id: "search-1", publicAddress: "https://search.example.com", internalAddress: "http://10.0.0.9:9200" })
    await anonymous.page.locator("tr[data-service=search]").waitFor({ timeout: 1_000 })
    await signedIn.page.locator("tr[data-endpoint=search-1]").getByText("http://10.0.0.9:9200").waitFor({ timeout: 1_000 })
    expect([...anonymous.problems, ...signedIn.problems]).toEqual([])
    await anonymous.context.close()
    await signedIn.context.close()
  })

  it("with an admin token: pause a task and see it paused, change a config key and see its source become runtime", async () => {
    const created = await api(`${miko.url}/v1/tasks`, {
      method: "POST",
      token: admin,
      body: { name: "nightly-report", kind: "http", http: { method: "GET", url: `${miko.url}/healthz` }, triggers: [{ every: "1h" }] }
    })
    expect(created.status).toBe(201)
    const { context, page, problems } = await open("/ui/tasks", admin)
    const row = page.locator("tr[data-task=nightly-report]")
    await expect(row.locator(".task-state").textContent()).resolves.toBe("active")
    await row.getByRole("button", { name: "Pause nightly-report" }).click()
    await row.locator(".task-state").getByText("paused").waitFor()
    expect((await api(`${miko.url}/v1/tasks/${created.body.id}`, { token: admin })).body.enabled).toBe(false)

    await page.getByRole("link", { name: "Config" }).click()
    const key = page.locator("tr[data-key='scheduler.maxRunningTasks']")
    await expect(key.locator(".source").textContent()).resolves.not.toBe("runtime")
    await key.getByRole("button", { name: "Change scheduler.maxRunningTasks" }).click()
    await key.getByLabel("New value of scheduler.maxRunningTasks").fill("7")
    await key.getByRole("button", { name: "Save" }).click()
    await key.locator(".source").getByText("runtime").waitFor()
    await expect(key.locator(".value").textContent()).resolves.toBe("7")
    expect((await api(`${miko.url}/v1/config/scheduler.maxRunningTasks`, { token: admin })).body).toMatchObject({ value: 7, source: "runtime" })
    expect(problems).toEqual([])
    await context.close()
  })

  it("a restart of Miko (same port, same data) shows reconnecting, then the page follows again without a reload", async () => {
    const { context, page, problems } = await open("/ui/", admin)
    await page.evaluate(() => Object.assign(globalThis, { sameDocument: true }))
    await miko.stop()
    await page.locator("[data-link=reconnecting]").waitFor()
    miko = await startMiko({ dir: miko.dir, config: { http: { port: miko.port } } })
    await page.locator("[data-link=live]").waitFor({ timeout: 10_000 })
    await register("after-restart", { id: "after-restart-1", publicAddress: "https://after.example.com" })
    await page.locator("tr[data-service=after-restart]").waitFor({ timeout: 1_000 })
    expect(await page.evaluate(() => (globalThis as { sameDocument?: boolean }).sameDocument)).toBe(true)
    expect(problems).toEqual([])
    await context.close()
  })
})
