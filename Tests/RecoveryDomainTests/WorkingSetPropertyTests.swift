import Foundation
import TestRandomness
import Testing

@testable import RecoveryDomain

/// The writer's working set is bounded (`--state-cache-mib`): past its budget
/// it drops what the projection tables hold, and deciding then names the rows
/// it lacks. Its answers must not depend on what was kept.
@Suite("A cold working set decides as a warm one")
struct WorkingSetPropertyTests {
    /// Every case and customer may be in the tables (the writer's filters say
    /// "maybe"); no event id of the batch was recorded before.
    struct TablesMayHoldAnything: OutsideTheState {
        func mayHold(event: EventID) -> Bool { false }
        func mayHold(case caseID: String) -> Bool { true }
        func mayHold(customer: String) -> Bool { true }
    }

    /// A batch of next steps on the ledger: on open and closed cases, kept or
    /// dropped, repeat complaints of known customers, reversals, and refusals.
    static func batch(after ledger: LedgerUnderTest, seed: UInt64, count: Int) throws -> [Submission] {
        var rng = SplitMix64(state: seed ^ 0x5EED)
        let caseIDs = ledger.state.cases.keys.sorted()
        let customers = Set(ledger.state.cases.values.map(\.customerID)).sorted()
        let agents = (0..<12).map { "A-\($0)" }
        var json: [String] = []
        for n in 0..<count {
            let id = String(format: "ffff%04x-0000-4000-8000-%012x", Int(seed % 0xffff), n)
            let caseID = caseIDs.randomElement(using: &rng) ?? "K-0"
            let agent = agents.randomElement(using: &rng)!
            switch Int.random(in: 0..<6, using: &rng) {
            case 0:
                let customer = customers.randomElement(using: &rng) ?? "C-0"
                json.append(#"{"event_id":"\#(id)","type":"complaint","agent_id":"\#(agent)","case_id":"N-\#(n)","customer_id":"\#(customer)","channel":"phone","category":"late","severity":3,"baseline":5}"#)
            case 1:
                json.append(#"{"event_id":"\#(id)","type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(Int.random(in: 1...90_000, using: &rng)),"currency":"USD","kind":"refund"}"#)
            case 2:
                let target = ledger.state.cases[caseID]?.compensations.keys.sorted(by: { $0.text < $1.text }).first
                json.append(#"{"event_id":"\#(id)","type":"compensation_reversal","agent_id":"\#(agent)","case_id":"\#(caseID)","reverses":"\#(target?.text ?? id)","reason":"correction"}"#)
            case 3:
                json.append(#"{"event_id":"\#(id)","type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(Int.random(in: 0...10, using: &rng))}"#)
            case 4:
                json.append(#"{"event_id":"\#(id)","type":"apology","agent_id":"\#(agent)","case_id":"\#(caseID)"}"#)
            default:
                json.append(#"{"event_id":"\#(id)","type":"escalation","agent_id":"\#(agent)","case_id":"\#(caseID)","to_agent_id":"S-1","reason":"needs a supervisor"}"#)
            }
        }
        return try json.map { text in
            let event = try EventCodec.decode(json: Array(text.utf8), currency: ledger.state.settingsHistory.currency).get()
            return Submission(event: event, contentDigest: event.content)
        }
    }

    @Test(arguments: [11, 12, 13, 14, 15, 16] as [UInt64])
    func aBatchGetsTheSameAnswersWithAColdOrAWarmWorkingSet(seed: UInt64) throws {
        let (ledger, _) = FoldPropertyTests.history(seed: seed, steps: 700)
        let warm = ledger.state
        let batch = try Self.batch(after: ledger, seed: seed, count: 60)
        let at = Timestamp(microseconds: ledger.clock.microseconds + 60_000_000)
        guard case .decided(let expected) = Ledger.decide(batch: batch, lookups: Lookups(), state: warm, at: at, outside: Everything()) else {
            Issue.record("a fold from the start needs nothing")
            return
        }
        // Dropped down to a quarter: every closed case, the customers' days and
        // the least recently touched open cases go.
        var cold = warm
        let dropped = cold.evict(downTo: warm.estimatedBytes / 4)
        #expect(dropped > 0 && cold.estimatedBytes <= warm.estimatedBytes / 4)
        #expect(cold.cases.values.allSatisfy { $0.status == .open })
        // Decide as the writer does: name the rows, get them from "the tables"
        // (the full state's rows), decide again.
        var lookups = Lookups()
        var rounds = 0
        var verdict = Ledger.decide(batch: batch, lookups: lookups, state: cold, at: at, outside: TablesMayHoldAnything())
        while case .needs(let needs) = verdict {
            rounds += 1
            try #require(rounds < 5, "the needs shrink")
            for caseID in needs.caseIDs { cold.cases[caseID] = warm.cases[caseID] }
            for customer in needs.customers { cold.customerComplaints[customer] = warm.customerComplaints[customer] }
            lookups.done.formUnion(needs)
            verdict = Ledger.decide(batch: batch, lookups: lookups, state: cold, at: at, outside: TablesMayHoldAnything())
        }
        guard case .decided(let got) = verdict else { return }
        #expect(rounds >= 1, "a cold set looked rows up")
        #expect(got.outcomes == expected.outcomes)
        #expect(got.records == expected.records)
        #expect(got.spending == expected.spending)
        #expect(expected.outcomes.contains { if case .recorded = $0 { true } else { false } })
        #expect(expected.outcomes.contains { if case .refused = $0 { true } else { false } })
        // And the state after it is the same as the warm one's, row for row.
        var afterWarm = warm
        afterWarm.apply(expected.delta)
        var afterCold = cold
        afterCold.apply(got.delta)
        for (caseID, row) in afterCold.cases { #expect(afterWarm.cases[caseID] == row, "\(caseID)") }
        #expect(afterCold.budgets == afterWarm.budgets && afterCold.customerDays == afterWarm.customerDays)
    }

    @Test func evictionKeepsTodaysMoneyAndStopsAtTheBudget() {
        let (ledger, _) = FoldPropertyTests.history(seed: 7, steps: 400)
        var state = ledger.state
        let estimate = state.estimatedBytes
        #expect(state.evict(downTo: estimate) == 0, "nothing goes under the budget")
        #expect(state == ledger.state)
        state.evict(downTo: 0)
        #expect(state.cases.isEmpty && state.customerComplaints.isEmpty)
        #expect(state.budgets == ledger.state.budgets && state.customerDays == ledger.state.customerDays)
        #expect(state.estimatedBytes < estimate)
    }
}
