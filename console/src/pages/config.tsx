import { useState } from "preact/hooks"
import { hasRole, useConsole } from "../context.js"
import { useLoaded } from "../hooks.js"
import type { Live } from "../live.js"
import { request } from "../session.js"
import type { ConfigEntry, ConfigSnapshot } from "../types.js"
import { NeedsAdmin } from "./tasks.js"

/** The snapshot has each key's value and source; whether a change applies live is on each key's entry. */
const loadConfig = async (live: Live) => {
  const snapshot = await request<ConfigSnapshot>("/v1/config")
  const keys = Object.keys(snapshot.sources).sort()
  const entries = await Promise.all(keys.map((key) => live.command<ConfigEntry>("config.get", { key })))
  return entries
}

const show = (value: unknown) => (value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value))

/** As `miko config set`: JSON when it parses (4, true, ["a"]), else the plain string. */
const parseValue = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

const path = (key: string) => `/v1/config/${encodeURIComponent(key)}`

const ConfigRow = ({ entry, admin, onDone }: { readonly entry: ConfigEntry; readonly admin: boolean; readonly onDone: (message: string | undefined) => void }) => {
  const [editing, setEditing] = useState(false)
  const [draft, setDraft] = useState(show(entry.value))
  const inputId = `value-${entry.key}`
  const save = (event: Event) => {
    event.preventDefault()
    request<ConfigEntry>(path(entry.key), { method: "PUT", body: { value: parseValue(draft) } })
      .then(() => {
        setEditing(false)
        onDone(undefined)
      }, (error: Error) => onDone(`${entry.key}: ${error.message}`))
  }
  const reset = () => request<ConfigEntry>(path(entry.key), { method: "DELETE" }).then(() => onDone(undefined), (error: Error) => onDone(`${entry.key}: ${error.message}`))
  return (
    <tr data-key={entry.key}>
      <th scope="row" data-label="Key"><code>{entry.key}</code><div class="muted small">{entry.description}</div></th>
      <td class="value" data-label="Value">
        {editing
          ? (
            <form class="inline" onSubmit={save}>
              <label for={inputId} class="visually-hidden">New value of {entry.key}</label>
              <input id={inputId} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
              <button type="submit">Save</button>
              <button type="button" onClick={() => setEditing(false)}>Cancel</button>
            </form>
          )
          : <code>{show(entry.value)}</code>}
      </td>
      <td class="source" data-label="Source">{entry.source}</td>
      <td data-label="Applies">{entry.restartRequired ? "on restart" : "live"}</td>
      {admin
        ? (
          <td data-label="">
            <span class="actions">
              {editing ? null : <button type="button" onClick={() => { setDraft(show(entry.value)); setEditing(true) }} aria-label={`Change ${entry.key}`}>Change</button>}
              {entry.source === "runtime" ? <button type="button" onClick={reset} aria-label={`Reset ${entry.key}`}>Reset</button> : null}
            </span>
          </td>
        )
        : null}
    </tr>
  )
}

export const ConfigPage = () => {
  const { live, state } = useConsole()
  const admin = hasRole(state, "admin")
  const ready = admin && state.link === "live"
  const [message, setMessage] = useState<string | undefined>(undefined)
  const [filter, setFilter] = useState("")
  const entries = useLoaded(() => (ready ? loadConfig(live) : Promise.resolve(undefined)), "config", [ready, live])
  if (!admin) return <section><h1>Config</h1><NeedsAdmin what="The configuration and its changes" /></section>
  const shown = (entries.value ?? []).filter((entry) => entry.key.toLowerCase().includes(filter.trim().toLowerCase()))
  return (
    <section aria-labelledby="config-title">
      <h1 id="config-title">Config</h1>
      <p>The effective configuration, secrets redacted. Sources, lowest to highest: default, file, env, runtime; a change made here is a runtime change and survives restarts.</p>
      {message === undefined && entries.error === undefined ? null : <p class="banner critical" role="alert">{message ?? entries.error}</p>}
      <div class="filters">
        <span class="field">
          <label for="config-filter">Key</label>
          <input id="config-filter" type="search" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} placeholder="scheduler." />
        </span>
      </div>
      <div class="scroll">
        <table class="config stack">
          <caption>{shown.length} keys</caption>
          <thead>
            <tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">Source</th><th scope="col">Applies</th>{admin ? <th scope="col">Actions</th> : null}</tr>
          </thead>
          <tbody>
            {shown.map((entry) => <ConfigRow key={entry.key} entry={entry} admin={admin} onDone={(m) => { setMessage(m); entries.reload() }} />)}
          </tbody>
        </table>
      </div>
    </section>
  )
}
