import Foundation
import Testing

@testable import RecoveryDomain

@Suite("Answers at a past position equal the fold of the log up to it")
struct PointInTimeTests {
    static let configuration = FoldPropertyTests.configuration

    /// The events up to `position` that the rows of a budget depend on: the
    /// cases with a compensation charged to one of `people` on `day` (as the
    /// ledger holds them now, as the table `case_compensations` does), and
    /// those people's allowance events.
    static func budgetClosure(_ events: [RecordedEvent], now: LedgerState, people: Set<String>, day: BusinessDay, through position: Int64) -> [RecordedEvent] {
        let cases = Set(now.cases.values.filter { c in c.compensations.values.contains { people.contains($0.chargedTo) && $0.day == day } }.map(\.caseID))
        return events.filter { recorded in
            guard recorded.position <= position else { return false }
            if let caseID = recorded.event.caseID { return cases.contains(caseID) }
            if case .allowance = recorded.event.body { return people.contains(recorded.event.agentID) }
            return false
        }
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
            var then = LedgerState()
            for recorded in events.prefix(Int(position)) { then.apply(recorded, configuration: Self.configuration) }

            // CASE: every case, including those not opened yet.
            for (caseID, current) in now.cases {
                let past = PointInTime.case(current: current, events: byCase[caseID] ?? [], at: position, configuration: Self.configuration)
                #expect(past == then.cases[caseID], "case \(caseID) at \(position)")
            }

            // OUTCOMES: the cases changed since, folded again; the others as they are.
            let changed = Set(now.cases.values.filter { $0.lastPosition > position }.map(\.caseID))
            let refolded = PointInTime.fold(
                events.filter { $0.position <= position && $0.event.caseID.map(changed.contains) == true }, configuration: Self.configuration)
            let cases = PointInTime.cases(current: now.cases.values, refolded: refolded, at: position)
            #expect(cases.sorted { $0.caseID < $1.caseID } == then.cases.values.sorted { $0.caseID < $1.caseID }, "cases at \(position)")
            #expect(OutcomeReport(cases: cases, by: .repeat) == OutcomeReport(cases: then.cases.values, by: .repeat))

            // BUDGET: every row that exists then, and every row that exists now (perhaps not yet then).
            for key in Set(then.budgets.keys).union(now.budgets.keys) {
                let closure = Self.budgetClosure(events, now: now, people: [key.agentID], day: key.day, through: position)
                let past = PointInTime.fold(closure, configuration: Self.configuration).budget(for: key.agentID, on: key.day, configuration: Self.configuration)
                #expect(past == then.budget(for: key.agentID, on: key.day, configuration: Self.configuration), "budget \(key) at \(position)")
            }

            // BUDGETS: each day's rows together.
            for day in Set(now.budgets.keys.map(\.day)) {
                let people = Set(now.cases.values.flatMap { $0.compensations.values.filter { $0.day == day }.map(\.chargedTo) })
                let folded = PointInTime.fold(
                    Self.budgetClosure(events, now: now, people: people, day: day, through: position), configuration: Self.configuration)
                #expect(folded.budgets.filter { $0.key.day == day } == then.budgets.filter { $0.key.day == day }, "budgets of \(day) at \(position)")
            }
        }
    }
}
