const distance = (a: string, b: string): number => {
  const previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!
    previous[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!
      previous[j] = Math.min(
        above + 1,
        previous[j - 1]! + 1,
        diagonal + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1)
      )
      diagonal = above
    }
  }
  return previous[b.length]!
}

/** The candidate closest to `input`, when one is close enough to be a likely typo. */
export const nearest = (input: string, candidates: Iterable<string>): string | undefined => {
  let best: string | undefined
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const d = distance(input, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined
}

/** " (did you mean \"x\"?)" or nothing. */
export const didYouMean = (input: string, candidates: Iterable<string>): string => {
  const match = nearest(input, candidates)
  return match === undefined ? "" : ` (did you mean ${JSON.stringify(match)}?)`
}
