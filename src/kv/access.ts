import type { CallerInfo } from "../auth/caller.js"

export type KvAccess = "none" | "read" | "write"

/**
 * What `caller` may do with `key`: admin everything; a token what its longest matching rule
 * says; anybody (with or without a token) reads the prefixes of `kv.publicRead`.
 */
export const accessTo = (caller: CallerInfo, publicRead: ReadonlyArray<string>, key: string): KvAccess => {
  if (caller.roles.has("admin")) return "write"
  let longest = -1
  let access: KvAccess = "none"
  for (const rule of caller.kv) {
    if (!key.startsWith(rule.prefix)) continue
    if (rule.prefix.length > longest || (rule.prefix.length === longest && rule.access === "write")) {
      longest = rule.prefix.length
      access = rule.access
    }
  }
  return access === "none" && publicRead.some((prefix) => key.startsWith(prefix)) ? "read" : access
}

/** Whether `caller` may list `prefix`: a rule (or a public prefix) covers all of it. */
export const mayList = (caller: CallerInfo, publicRead: ReadonlyArray<string>, prefix: string): boolean =>
  caller.roles.has("admin") || caller.kv.some((rule) => prefix.startsWith(rule.prefix)) || publicRead.some((open) => prefix.startsWith(open))
