import { api, type JsonResponse, type Miko } from "../support/miko.js"

export const admin = "admin-secret-0123456789"
export const billingWriter = "billing-writer-0123456789"
export const billingReader = "billing-reader-0123456789"
export const outsider = "outsider-secret-0123456789"

/** Tokens with kv rules: a writer of billing/ that may only read billing/frozen/, a reader of billing/, one with no rules. */
export const tokens = [
  { name: "ops", secret: admin, roles: ["admin"] },
  {
    name: "billing-writer",
    secret: billingWriter,
    roles: ["register"],
    kv: [{ prefix: "billing/", access: "write" }, { prefix: "billing/frozen/", access: "read" }]
  },
  { name: "billing-reader", secret: billingReader, roles: ["register"], kv: [{ prefix: "billing/", access: "read" }] },
  { name: "outsider", secret: outsider, roles: ["register"] }
]

export const kvConfig = (kv: Record<string, unknown> = {}) => ({ auth: { tokens }, kv: { publicRead: ["public/"], ...kv } })

export interface WriteOptions {
  readonly token?: string | undefined
  readonly headers?: Record<string, string>
  readonly comment?: string
  readonly secret?: boolean
}

export const put = (miko: Miko, key: string, value: unknown, options: WriteOptions = {}): Promise<JsonResponse> =>
  api(`${miko.url}/v1/kv/${key}`, {
    method: "PUT",
    token: options.token ?? admin,
    headers: options.headers ?? {},
    body: {
      value,
      ...(options.comment === undefined ? {} : { comment: options.comment }),
      ...(options.secret === undefined ? {} : { secret: options.secret })
    }
  })

/** A GET with the admin token, another token, or none (null). */
export const get = (miko: Miko, path: string, token: string | null = admin): Promise<JsonResponse> =>
  api(`${miko.url}${path}`, token === null ? {} : { token })

export const del = (miko: Miko, key: string, headers: Record<string, string> = {}, token = admin) =>
  api(`${miko.url}/v1/kv/${key}`, { method: "DELETE", token, headers })

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
