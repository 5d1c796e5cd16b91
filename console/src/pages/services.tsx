import { useEffect, useState } from "preact/hooks"
import { useConsole } from "../context.js"
import { countsOf } from "../directory.js"
import { request } from "../session.js"
import type { LeaseProtection, ServiceList } from "../types.js"
import { Protection } from "./protection.js"

const Select = ({ id, label, value, options, onChange }: {
  readonly id: string
  readonly label: string
  readonly value: string
  readonly options: ReadonlyArray<string>
  readonly onChange: (value: string) => void
}) => (
  <span class="field">
    <label for={id}>{label}</label>
    <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      <option value="">any</option>
      {options.map((option) => <option key={option} value={option}>{option}</option>)}
    </select>
  </span>
)

/** Lease protection from GET /v1/services, read again whenever the directory changes. */
export const useProtection = (): LeaseProtection | undefined => {
  const { state } = useConsole()
  const [protection, setProtection] = useState<LeaseProtection | undefined>(undefined)
  const index = state.directory?.index
  useEffect(() => {
    if (index === undefined) return
    let current = true
    request<ServiceList>("/v1/services").then((list) => current && setProtection(list.protection), () => undefined)
    return () => {
      current = false
    }
  }, [index])
  return protection
}

export const ServicesPage = () => {
  const { state } = useConsole()
  const [search, setSearch] = useState("")
  const [tag, setTag] = useState("")
  const [zone, setZone] = useState("")
  const protection = useProtection()
  const directory = state.directory
  if (directory === undefined) return <p>Loading the directory…</p>
  const all = Object.entries(directory.services).map(([name, endpoints]) => countsOf(name, endpoints))
  const shown = all.filter((s) =>
    s.name.toLowerCase().includes(search.trim().toLowerCase()) &&
    (tag === "" || s.tags.includes(tag)) &&
    (zone === "" || s.zones.includes(zone)))
  return (
    <section aria-labelledby="services-title">
      <h1 id="services-title">Services</h1>
      <Protection protection={protection} />
      <div class="filters">
        <span class="field">
          <label for="search">Search</label>
          <input id="search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} placeholder="service name" />
        </span>
        <Select id="tag" label="Tag" value={tag} options={[...new Set(all.flatMap((s) => s.tags))].sort()} onChange={setTag} />
        <Select id="zone" label="Zone" value={zone} options={[...new Set(all.flatMap((s) => s.zones))].sort()} onChange={setZone} />
      </div>
      <div class="scroll">
        <table class="services stack">
          <caption>{shown.length} of {all.length} services, at index {directory.index}</caption>
          <thead>
            <tr><th scope="col">Service</th><th scope="col">Passing</th><th scope="col">Warning</th><th scope="col">Critical</th><th scope="col">Tags</th><th scope="col">Zones</th></tr>
          </thead>
          <tbody>
            {shown.map((s) => (
              <tr key={s.name} data-service={s.name}>
                <th scope="row" data-label="Service"><a href={`/ui/services/${encodeURIComponent(s.name)}`}>{s.name}</a></th>
                <td class="passing" data-label="Passing">{s.passing}</td>
                <td class="warning" data-label="Warning">{s.warning}</td>
                <td class="critical" data-label="Critical">{s.critical}</td>
                <td data-label="Tags">{s.tags.join(", ")}</td>
                <td data-label="Zones">{s.zones.join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {all.length === 0 ? <p>No service has an endpoint you may see.</p> : null}
    </section>
  )
}
