/** Example configurations shown on the configuration page; each is decoded in a test. */
/** An example configuration for one key; shown only while the key exists in the Schema. */
export interface ConfigExample {
  readonly key: string
  readonly title: string
  readonly text: ReadonlyArray<string>
  readonly yaml: string
}

export const configExamples: ReadonlyArray<ConfigExample> = [
  {
    key: "registry.static",
    title: "Static endpoints",
    text: [
      "Endpoints that do not register themselves (a database, a partner API) are declared in the file,",
      "by service name. Each needs a `publicAddress`, an `internalAddress` or both: a URL or a `host:port`."
    ],
    yaml: `registry:
  static:
    billing:
      - id: billing-eu-1
        publicAddress: https://billing.example.com
        internalAddress: http://billing.internal:8080
        protocol: https
        zone: eu-1
        weight: 10
        tags: [primary]
        metadata: { team: payments }
      - internalAddress: billing-2.internal:8080
    postgres:
      - internalAddress: db.internal:5432
        protocol: tcp
`
  },
  {
    key: "auth.tokens",
    title: "Tokens",
    text: [
      "Each token gives exactly one of `secret` (the token itself, at least 16 characters), `secretEnv` (the name of",
      "an environment variable holding it) or `secretFile` (a file holding it); prefer the last two, which keep the",
      "token out of the config file; such secrets are read at start and again whenever the configuration changes. Roles:",
      "`admin` may do everything, `register` may register endpoints and send heartbeats, `internal` may see",
      "internal addresses. `services` limits the services a `register` token may register; without it, any."
    ],
    yaml: `auth:
  tokens:
    - name: ops
      secretEnv: OPS_TOKEN
      roles: [admin]
    - name: payments-registrar
      secretFile: /run/secrets/payments-registrar
      roles: [register]
      services: [payments, payments-worker]
    - name: internal-clients
      secret: 3f9c1e7a5b2d4c6e8f0a1b2c
      roles: [internal]
`
  },
  {
    key: "scheduler.tasks",
    title: "Tasks",
    text: [
      "A task that calls an HTTP endpoint every night at 03:00 Berlin time and retries a failed run",
      "up to three times, with exponential backoff starting at 10s."
    ],
    yaml: `scheduler:
  tasks:
    - name: nightly-report
      kind: http
      http: { method: POST, url: http://reports.internal:8080/run }
      triggers: [{ cron: "0 3 * * *", timezone: Europe/Berlin }]
      retry: { maxRetries: 3, backoff: exponential, delay: 10s }
`
  }
]
