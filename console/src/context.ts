import { createContext } from "preact"
import { useContext } from "preact/hooks"
import type { Live } from "./live.js"
import type { LiveState } from "./link-state.js"

export interface Console {
  readonly live: Live
  readonly state: LiveState
  /** The current time, ticking each second, for relative times. */
  readonly now: number
}

export const ConsoleContext = createContext<Console | undefined>(undefined)

export const useConsole = (): Console => {
  const value = useContext(ConsoleContext)
  if (value === undefined) throw new Error("useConsole outside the console")
  return value
}

export const hasRole = (state: LiveState, role: string): boolean =>
  state.identity !== undefined && (state.identity.roles.includes("admin") || state.identity.roles.includes(role))
