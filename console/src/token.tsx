import { useState } from "preact/hooks"
import { useConsole } from "./context.js"

/** Enter a token once per tab, or forget it; anonymous until then. */
export const TokenForm = ({ token, onChange }: { readonly token: string | undefined; readonly onChange: (token: string | undefined) => void }) => {
  const { state } = useConsole()
  const [draft, setDraft] = useState("")
  if (token !== undefined) {
    const who = state.identity === undefined ? "token not checked yet" : `${state.identity.name} (${state.identity.roles.join(", ") || "no roles"})`
    return (
      <div class="token">
        <span>{state.link === "refused" ? `Token refused: ${state.refusal ?? ""}` : `Signed in: ${who}`}</span>
        <button type="button" onClick={() => onChange(undefined)}>Forget token</button>
      </div>
    )
  }
  return (
    <form
      class="token"
      onSubmit={(event) => {
        event.preventDefault()
        if (draft.trim() !== "") onChange(draft.trim())
        setDraft("")
      }}
    >
      <label for="token">Access token</label>
      <input id="token" type="password" autocomplete="off" value={draft} onInput={(e) => setDraft(e.currentTarget.value)} placeholder="anonymous" />
      <button type="submit">Use token</button>
    </form>
  )
}
