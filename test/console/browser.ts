import { existsSync } from "node:fs"
import { type Browser, chromium } from "playwright-core"

/**
 * The Debian `chromium` package, installed by scripts/install-tools.sh; MIKO_CHROMIUM names
 * another build. Playwright drives it; it downloads no browser of its own.
 */
export const chromiumPath = process.env["MIKO_CHROMIUM"] ?? "/usr/bin/chromium"

export const chromiumInstalled = existsSync(chromiumPath)

/** One headless browser for every scenario of a file; each scenario opens its own context. */
export const launchBrowser = (): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in containers has no user namespaces for the sandbox; the pages are Miko's own.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]
  })
