import type { KvVersion } from "./model.js"

/** What a blocking read waits on: one key, or every key under a prefix. */
export type Watched = { readonly key: string } | { readonly prefix: string }

/** Prefixes whose last change index is remembered; beyond this the oldest is recomputed when asked again. */
const rememberedPrefixes = 4_096

/**
 * The current version of every key in memory, with the waiters parked on a key or a prefix.
 * A change wakes only the waiters of that key and of the prefixes of that key: each of the
 * key's own prefixes is looked up, so the cost of a change is the key's length, not the number
 * of waiters or of watched prefixes. The last change index of each watched prefix is kept as
 * Consul keeps one per query result, and moved by the changes under it.
 */
export const makeTable = (initialIndex: number, initial: ReadonlyArray<KvVersion>) => {
  const current = new Map<string, KvVersion>(initial.map((version) => [version.key, version]))
  // Every key known (deleted ones too), sorted: the keys under a prefix are one range of it, found
  // by binary search, so a listing or a watcher's answer costs the prefix's size, not the store's.
  const sortedKeys = [...current.keys()].sort()
  let index = initialIndex
  const prefixIndexes = new Map<string, number>()
  const keyWaiters = new Map<string, Set<() => void>>()
  const prefixWaiters = new Map<string, Set<() => void>>()

  /** The first position in `sortedKeys` not before `key`. */
  const lowerBound = (key: string): number => {
    let low = 0
    let high = sortedKeys.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (sortedKeys[middle]! < key) low = middle + 1
      else high = middle
    }
    return low
  }

  /** The current versions of the keys under `prefix` (deletions included), by key. */
  const range = (prefix: string): Array<KvVersion> => {
    const found: Array<KvVersion> = []
    for (let at = lowerBound(prefix); at < sortedKeys.length && sortedKeys[at]!.startsWith(prefix); at++) found.push(current.get(sortedKeys[at]!)!)
    return found
  }

  const prefixIndex = (prefix: string): number => {
    const known = prefixIndexes.get(prefix)
    if (known !== undefined) return known
    let last = 0
    for (const version of range(prefix)) if (version.index > last) last = version.index
    if (prefixIndexes.size >= rememberedPrefixes) prefixIndexes.delete(prefixIndexes.keys().next().value!)
    prefixIndexes.set(prefix, last)
    return last
  }

  const keyIndex = (key: string): number => current.get(key)?.index ?? 0

  const wake = (waiters: Map<string, Set<() => void>>, name: string) => {
    const parked = waiters.get(name)
    if (parked === undefined) return
    waiters.delete(name)
    for (const resume of parked) resume()
  }

  /** Takes a committed version; false when it is not newer than what is known. */
  const apply = (version: KvVersion): boolean => {
    if (version.index <= index) return false
    index = version.index
    if (!current.has(version.key)) sortedKeys.splice(lowerBound(version.key), 0, version.key)
    current.set(version.key, version)
    for (let end = 0; end <= version.key.length; end++) {
      const prefix = version.key.slice(0, end)
      if (prefixIndexes.has(prefix)) prefixIndexes.set(prefix, version.index)
      wake(prefixWaiters, prefix)
    }
    wake(keyWaiters, version.key)
    return true
  }

  /** The change index of what `watched` sees. */
  const indexOf = (watched: Watched) => ("key" in watched ? keyIndex(watched.key) : prefixIndex(watched.prefix))

  /**
   * Calls `resume` once `watched` changes past `since` (at once when it already has, or when
   * `since` is ahead of every change: a client that knew another history); returns the cancel.
   */
  const park = (watched: Watched, since: number, resume: () => void): () => void => {
    if (indexOf(watched) > since || since > index) {
      resume()
      return () => {}
    }
    const [waiters, name] = "key" in watched ? [keyWaiters, watched.key] as const : [prefixWaiters, watched.prefix] as const
    const parked = waiters.get(name) ?? new Set<() => void>()
    waiters.set(name, parked)
    parked.add(resume)
    return () => {
      parked.delete(resume)
      if (parked.size === 0 && waiters.get(name) === parked) waiters.delete(name)
    }
  }

  /** Live keys under `prefix`, by key. */
  const under = (prefix: string): Array<KvVersion> => range(prefix).filter((version) => !version.deleted)

  /** The current versions under `prefix` (deletions included) changed after `since`, oldest first. */
  const changedSince = (prefix: string, since: number): Array<KvVersion> =>
    range(prefix).filter((version) => version.index > since).sort((a, b) => a.index - b.index)

  return {
    index: () => index,
    current: (key: string) => current.get(key),
    under,
    changedSince,
    indexOf,
    apply,
    park
  }
}

export type KvTable = ReturnType<typeof makeTable>
