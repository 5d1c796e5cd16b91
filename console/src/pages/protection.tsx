import type { LeaseProtection } from "../types.js"

/** Mass-expiry protection (docs/protection.md), as GET /v1/services reports it. */
export const Protection = ({ protection }: { readonly protection: LeaseProtection | undefined }) => {
  if (protection === undefined) return null
  if (protection.active) {
    return (
      <p class="banner warning" role="alert">
        Protection mode: {protection.lapsing} of {protection.leased} leases lapsed at once, so every lease is kept until heartbeats return.
      </p>
    )
  }
  return (
    <p class="muted">
      Protection {protection.threshold === 0 ? "off" : `armed at ${Math.round(protection.threshold * 100)}% of ${protection.leased} leases (${protection.lapsing} lapsing)`}
    </p>
  )
}
