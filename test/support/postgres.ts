import { randomBytes } from "node:crypto"
import pg from "pg"

/**
 * PostgreSQL for the tests that run on both storage drivers.
 *
 * MIKO_TEST_DRIVER   sqlite (default) | postgres: the driver the suites run on
 * MIKO_TEST_POSTGRES_URL  admin URL of a server the tests may create databases on,
 *                    e.g. postgres://postgres@127.0.0.1:55432/postgres (scripts/postgres.sh)
 *
 * Every test database is created fresh with a unique name; they are left behind on
 * the throwaway test server.
 */

export type TestDriver = "sqlite" | "postgres"

/** The storage driver the suites run on, from MIKO_TEST_DRIVER (default sqlite). */
export const testDriver = (): TestDriver => {
  const value = process.env["MIKO_TEST_DRIVER"]?.trim() || "sqlite"
  if (value !== "sqlite" && value !== "postgres") {
    throw new Error(`MIKO_TEST_DRIVER must be sqlite or postgres, not ${JSON.stringify(value)}`)
  }
  return value
}

/** The admin URL of the test server, from MIKO_TEST_POSTGRES_URL. */
export const postgresAdminUrl = (): string | undefined => process.env["MIKO_TEST_POSTGRES_URL"]?.trim() || undefined

const requireAdminUrl = (): string => {
  const url = postgresAdminUrl()
  if (url === undefined) {
    throw new Error(
      "MIKO_TEST_POSTGRES_URL is not set: start a server with `scripts/postgres.sh start` and export the URL it prints"
    )
  }
  return url
}

const withAdmin = async <A>(f: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: requireAdminUrl() })
  await client.connect()
  try {
    return await f(client)
  } finally {
    await client.end()
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll("\"", "\"\"")}"`

/** The URL of database `name` on the server of `base`. */
const databaseUrl = (base: string, name: string): string => {
  const url = new URL(base)
  url.pathname = `/${encodeURIComponent(name)}`
  return url.toString()
}

/** Creates an empty database with a unique name (`<prefix>_<random>`) and returns its URL. */
export const freshDatabase = async (prefix = "miko_t"): Promise<string> => {
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`unusable database name prefix: ${prefix}`)
  const name = `${prefix}_${randomBytes(6).toString("hex")}`
  await withAdmin((client) => client.query(`CREATE DATABASE ${quoteIdent(name)}`))
  return databaseUrl(requireAdminUrl(), name)
}
