import { useEffect, useState } from "preact/hooks"
import { useConsole } from "./context.js"

export interface Loaded<A> {
  readonly value: A | undefined
  readonly error: string | undefined
  readonly reload: () => void
}

/**
 * Loads `load()` now, again when `topic` says something changed (an execution started or ended,
 * the config changed, the link came back), and when `reload` is called after an action. Events
 * close together are read once.
 */
export const useLoaded = <A>(load: () => Promise<A>, topic: "tasks" | "config" | undefined, deps: ReadonlyArray<unknown>): Loaded<A> => {
  const { live } = useConsole()
  const [value, setValue] = useState<A | undefined>(undefined)
  const [error, setError] = useState<string | undefined>(undefined)
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    let current = true
    load().then(
      (loaded) => {
        if (!current) return
        setValue(loaded)
        setError(undefined)
      },
      (failure: Error) => current && setError(failure.message)
    )
    return () => {
      current = false
    }
  }, [generation, ...deps])
  useEffect(() => {
    if (topic === undefined) return
    let timer: ReturnType<typeof setTimeout> | undefined
    const stop = live.onTopic(topic, () => {
      clearTimeout(timer)
      timer = setTimeout(() => setGeneration((n) => n + 1), 100)
    })
    return () => {
      clearTimeout(timer)
      stop()
    }
  }, [live, topic])
  return { value, error, reload: () => setGeneration((n) => n + 1) }
}
