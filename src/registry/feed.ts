import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type { Journal, RegistryState } from "./journal.js"
import type { RegistryChange } from "./model.js"
import type { EndpointRecord } from "./record.js"

/** What a watcher receives: the whole directory once, or one change. */
export type RegistryEvent =
  | { readonly _tag: "Snapshot"; readonly state: RegistryState }
  | { readonly _tag: "Change"; readonly change: RegistryChange; readonly record: EndpointRecord }

/**
 * The one change feed every reader uses: long-polls, WebSocket subscribers, the rendered bodies
 * and embedders. Published states in index order, resumable from an index while the change is
 * still in the journal's history.
 */
export const makeFeed = (journal: Journal) => {
  const changes = Stream.changesWith(journal.published.changes, (a, b) => a.index === b.index)

  const firstEvents = (fromIndex: number | undefined, state: RegistryState) =>
    Effect.map(journal.history, (entries): ReadonlyArray<RegistryEvent> => {
      const replay = entries.filter((e) => fromIndex !== undefined && e.change.index > fromIndex && e.change.index <= state.index)
      const covered = fromIndex !== undefined && fromIndex <= state.index &&
        (fromIndex === state.index || replay[0]?.change.index === fromIndex + 1)
      return covered
        ? replay.map((e) => ({ _tag: "Change" as const, change: e.change, record: e.record }))
        : [{ _tag: "Snapshot" as const, state }]
    })

  const nextEvents = (state: RegistryState): ReadonlyArray<RegistryEvent> =>
    // A reload after falling behind carries no single change: watchers start over from it.
    state.change !== undefined && state.changed !== undefined && state.change.index === state.index
      ? [{ _tag: "Change", change: state.change, record: state.changed }]
      : [{ _tag: "Snapshot", state }]

  const watch = (fromIndex?: number): Stream.Stream<RegistryEvent> =>
    changes.pipe(
      Stream.mapAccumEffect(undefined as number | undefined, (seen, state): Effect.Effect<readonly [number, ReadonlyArray<RegistryEvent>]> => {
        if (seen === undefined) return Effect.map(firstEvents(fromIndex, state), (events) => [state.index, events] as const)
        if (state.index <= seen) return Effect.succeed([seen, []] as const)
        return Effect.succeed([state.index, nextEvents(state)] as const)
      }),
      Stream.flattenIterables
    )

  const changesBetween = (from: number, to: number) =>
    Effect.map(journal.history, (entries) => {
      if (from >= to) return Option.some([])
      const wanted = entries.filter((e) => e.change.index > from && e.change.index <= to)
      return wanted.length === to - from ? Option.some(wanted) : Option.none()
    })

  const awaitIndex = (after: number): Effect.Effect<number> =>
    Effect.gen(function*() {
      const waitFor = yield* Ref.get(journal.nextChange)
      const { index } = yield* SubscriptionRef.get(journal.published)
      // An index from the future belongs to another history (a reset store): answer at once.
      if (index > after || after > index) return index
      yield* Deferred.await(waitFor)
      return yield* awaitIndex(after)
    })

  return { changes, watch, changesBetween, awaitIndex }
}
