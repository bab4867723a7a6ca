/// Answers as the ledger stood right after an earlier position (`at=`,
/// docs/PROTOCOL.md), with the same fold as everything else.
///
/// An answer needs a few rows: one case, one person's budget on a day, the
/// cases of a report. Each row's value at position N depends only on the
/// events up to N that touch it — a case on its own events; a budget row on
/// the compensations charged to it, their reversals (both in those
/// compensations' cases) and the person's allowance events. So the rows an
/// answer needs are folded again from exactly that closure of events, and
/// rows nothing touched after N are taken as they are now. Every closure also
/// holds the ledger's settings: its opening events (which hold from the first
/// position) to start from, and every `ledger_setting` event up to N. The cost
/// is in the events touched after N: small near the head, and never more than
/// the log up to N.
public enum PointInTime {
    /// Folds `events` — the events up to some position that touch the rows an
    /// answer needs, in position order, with gaps between them — into
    /// `start` (the state before the first position: ``LedgerState/init(opening:)``),
    /// giving a state holding those rows. Every row of the result is only as
    /// good as the closure it was given: rows the events merely brush (another
    /// payer's budget in a folded case) are incomplete and must not be read.
    public static func fold(_ events: some Sequence<RecordedEvent>, from start: LedgerState) -> LedgerState {
        var state = start
        for recorded in events {
            precondition(recorded.position > state.lastPosition, "events are folded in position order")
            // The events in between touched none of the rows asked for.
            state.lastPosition = recorded.position - 1
            state.fold(recorded)
        }
        return state
    }

    /// The cases of a report at position `at`: `current` (the cases as they are
    /// now) that no event after `at` touched, as they are; the others as
    /// `refolded` (``fold(_:from:)`` of their events up to `at`) has
    /// them — absent when they had not been opened yet.
    ///
    /// `prior_cases` is fixed when a case opens, from other customers' cases
    /// that the closure does not hold, so it is taken from the current case.
    public static func cases(current: some Sequence<CaseState>, refolded: LedgerState, at: Int64) -> [CaseState] {
        current.compactMap { now in
            if now.lastPosition <= at { return now }
            return refolded.cases[now.caseID].map { restoring(priorCasesOf: now, into: $0) }
        }
    }

    /// One case at `at`: the fold of its events up to `at` (nil if it was not
    /// open yet), with `prior_cases` from the case as it is now.
    public static func `case`(current: CaseState, events: some Sequence<RecordedEvent>, at: Int64, from start: LedgerState) -> CaseState? {
        if current.lastPosition <= at { return current }
        return fold(events.filter { $0.position <= at }, from: start).cases[current.caseID]
            .map { restoring(priorCasesOf: current, into: $0) }
    }

    private static func restoring(priorCasesOf current: CaseState, into past: CaseState) -> CaseState {
        var past = past
        past.priorCases = current.priorCases
        return past
    }
}
