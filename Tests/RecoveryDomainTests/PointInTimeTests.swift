import Foundation
import Testing

@testable import RecoveryDomain

@Suite("Answers at a past position equal the fold of the log up to it")
struct PointInTimeTests {
    /// The events up to `position` that the rows of a budget depend on: the
    /// cases with a compensation charged to one of `people` on `day`, or
    /// reversed on it (as the ledger holds them now, as the table
    /// `case_compensations` does), those people's allowance events, and every
    /// setting.
    static func budgetClosure(_ events: [RecordedEvent], now: LedgerState, people: Set<String>, day: BusinessDay, through position: Int64) -> [RecordedEvent] {
        let cases = Set(
            now.cases.values.filter { c in
                c.compensations.values.contains { people.contains($0.chargedTo) && ($0.day == day || $0.reversedDay == day) }
            }.map(\.caseID))
        return events.filter { recorded in
            guard recorded.position <= position else { return false }
            if let caseID = recorded.event.caseID { return cases.contains(caseID) }
            if case .allowance = recorded.event.body { return people.contains(recorded.event.agentID) }
            return recorded.event.type == .ledgerSetting
        }
    }

    /// The state before the first position: the opening events (as ``LedgerState/init(opening:)``).
    static func start(_ events: [RecordedEvent]) -> LedgerState {
        LedgerState(opening: events.prefix { $0.recordedAt == events[0].recordedAt })
    }

    static func settings(_ events: [RecordedEvent], through position: Int64) -> [RecordedEvent] {
        events.filter { $0.position <= position && $0.event.type == .ledgerSetting }
    }

    @Test(arguments: [1, 2] as [UInt64])
    func everyAnswerAtAPositionEqualsTheFoldUpToIt(seed: UInt64) throws {
        let (ledger, _) = FoldPropertyTests.history(seed: seed, steps: 2_500)
        let events = ledger.recorded
        let now = ledger.state
        let last = Int64(events.count)
        #expect(now.cases.values.contains { $0.priorCases > 0 })  // repeats occur, so prior_cases is exercised
        let byCase = Dictionary(grouping: events.filter { $0.event.caseID != nil }, by: { $0.event.caseID! })

        for position in [0, 1, last / 7, last / 3, last / 2, last - 40, last - 1, last] {
            // The opening settings hold from the first position (from before
            // it, on a ledger upgraded from a version that had no such events).
            let start = Self.start(events)
            var then = start
            for recorded in events.prefix(Int(position)) { then.apply(recorded) }

            // CASE: every case, including those not opened yet.
            for (caseID, current) in now.cases {
                let closure = ((byCase[caseID] ?? []) + Self.settings(events, through: position)).sorted { $0.position < $1.position }
                let past = PointInTime.case(current: current, events: closure, at: position, from: start)
                #expect(past == then.cases[caseID], "case \(caseID) at \(position)")
            }

            // OUTCOMES: the cases changed since, folded again; the others as they are.
            let changed = Set(now.cases.values.filter { $0.lastPosition > position }.map(\.caseID))
            let refolded = PointInTime.fold(
                events.filter {
                    $0.position <= position && ($0.event.caseID.map(changed.contains) == true || $0.event.type == .ledgerSetting)
                }, from: start)
            let cases = PointInTime.cases(current: now.cases.values, refolded: refolded, at: position)
            #expect(cases.sorted { $0.caseID < $1.caseID } == then.cases.values.sorted { $0.caseID < $1.caseID }, "cases at \(position)")
            let time = position == 0 ? events[0].recordedAt : events[Int(position) - 1].recordedAt
            #expect(OutcomeReport(cases: cases, by: .repeat, now: time) == OutcomeReport(cases: then.cases.values, by: .repeat, now: time))

            // BUDGET: every row that exists then, and every row that exists now (perhaps not yet then).
            for key in Set(then.budgets.keys).union(now.budgets.keys) {
                let closure = Self.budgetClosure(events, now: now, people: [key.agentID], day: key.day, through: position)
                let past = PointInTime.fold(closure, from: start).budget(for: key.agentID, on: key.day)
                #expect(past == then.budget(for: key.agentID, on: key.day), "budget \(key) at \(position)")
            }

            // BUDGETS: each day's rows together.
            for day in Set(now.budgets.keys.map(\.day)) {
                let people = Set(
                    now.cases.values.flatMap { $0.compensations.values.filter { $0.day == day || $0.reversedDay == day }.map(\.chargedTo) })
                let folded = PointInTime.fold(Self.budgetClosure(events, now: now, people: people, day: day, through: position), from: start)
                #expect(
                    folded.budgets.filter { $0.key.day == day && people.contains($0.key.agentID) } == then.budgets.filter { $0.key.day == day },
                    "budgets of \(day) at \(position)")

                // SETTINGS: the opening and every setting up to the position.
                let settings = PointInTime.fold(Self.settings(events, through: position), from: start).settingsHistory
                #expect(settings.settings(through: position).settings == then.settingsHistory.settings(through: position).settings)
            }
        }
    }
}
