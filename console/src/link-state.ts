import type { DirectoryState } from "./directory.js"

/** What the console knows of its link to Miko, as the pages read it. */

export type LinkState = "connecting" | "live" | "reconnecting" | "refused"

export interface Identity {
  readonly name: string
  readonly roles: ReadonlyArray<string>
}

export interface LiveState {
  readonly link: LinkState
  readonly directory: DirectoryState | undefined
  readonly identity: Identity | undefined
  /** Why the token was refused, when it was. */
  readonly refusal: string | undefined
}

/** A WebSocket command that failed, with Miko's error code. */
export class CommandError extends Error {
  constructor(readonly code: string, message: string) {
    super(message)
  }
}
