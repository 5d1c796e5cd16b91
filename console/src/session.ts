/**
 * The token of this tab: kept in sessionStorage only, so it leaves with the tab and is never
 * in a URL or a cookie. Every request sends it as a bearer token, as any API client does.
 */

const key = "miko.token"

export const storedToken = (): string | undefined => sessionStorage.getItem(key) ?? undefined

export const storeToken = (token: string | undefined): void => {
  if (token === undefined) sessionStorage.removeItem(key)
  else sessionStorage.setItem(key, token)
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** One call to the HTTP API; Miko's error envelope becomes an ApiError with its message. */
export const request = async <A>(path: string, options: { method?: string; body?: unknown } = {}): Promise<A> => {
  const token = storedToken()
  const headers: Record<string, string> = {}
  if (token !== undefined) headers["authorization"] = `Bearer ${token}`
  if (options.body !== undefined) headers["content-type"] = "application/json"
  const init: RequestInit = { method: options.method ?? "GET", headers, cache: "no-store" }
  if (options.body !== undefined) init.body = JSON.stringify(options.body)
  const response = await fetch(path, init)
  const text = await response.text()
  const body = text === "" ? undefined : (JSON.parse(text) as unknown)
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error
    throw new ApiError(response.status, error?.code ?? "http_error", error?.message ?? `HTTP ${response.status}`)
  }
  return body as A
}
