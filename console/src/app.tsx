import { LocationProvider, Route, Router } from "preact-iso"
import { useEffect, useMemo, useState } from "preact/hooks"
import { ConsoleContext } from "./context.js"
import { Live } from "./live.js"
import type { LiveState } from "./link-state.js"
import { ClusterPage } from "./pages/cluster.js"
import { ConfigPage } from "./pages/config.js"
import { ServicePage } from "./pages/service.js"
import { ServicesPage } from "./pages/services.js"
import { TaskPage } from "./pages/task.js"
import { TasksPage } from "./pages/tasks.js"
import { storedToken, storeToken } from "./session.js"
import { TokenForm } from "./token.js"

const linkText: Record<LiveState["link"], string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  refused: "Token refused"
}

const useNow = () => {
  const [now, setNow] = useState(Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000)
    return () => clearInterval(timer)
  }, [])
  return now
}

const NotFound = () => <p>No such page. <a href="/ui/">Back to the services</a>.</p>

export const App = () => {
  const [token, setToken] = useState(storedToken())
  const live = useMemo(() => new Live(token), [token])
  const [state, setState] = useState(live.current)
  useEffect(() => {
    setState(live.current)
    const stop = live.listen(setState)
    return () => {
      stop()
      live.close()
    }
  }, [live])
  const now = useNow()
  const changeToken = (next: string | undefined) => {
    storeToken(next)
    setToken(next)
  }
  return (
    <ConsoleContext.Provider value={{ live, state, now }}>
      <LocationProvider>
        <header class="top">
          <a class="brand" href="/ui/">Miko</a>
          <nav aria-label="Pages">
            <a href="/ui/">Services</a>
            <a href="/ui/tasks">Tasks</a>
            <a href="/ui/config">Config</a>
            <a href="/ui/cluster">Cluster</a>
          </nav>
          <p class={`link link-${state.link}`} role="status" aria-live="polite" data-link={state.link} title={state.refusal}>
            {state.link === "refused" && token === undefined ? "Needs a token" : linkText[state.link]}
          </p>
          <TokenForm token={token} onChange={changeToken} />
        </header>
        <main>
          <Router>
            <Route path="/ui" component={ServicesPage} />
            <Route path="/ui/" component={ServicesPage} />
            <Route path="/ui/services/:name" component={ServicePage} />
            <Route path="/ui/tasks" component={TasksPage} />
            <Route path="/ui/tasks/:id" component={TaskPage} />
            <Route path="/ui/config" component={ConfigPage} />
            <Route path="/ui/cluster" component={ClusterPage} />
            <Route default component={NotFound} />
          </Router>
        </main>
      </LocationProvider>
    </ConsoleContext.Provider>
  )
}
