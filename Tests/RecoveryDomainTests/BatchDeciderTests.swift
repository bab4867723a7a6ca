import Foundation
import TestRandomness
import Testing

@testable import RecoveryDomain

@Suite("The batch decider: a batch is its events one by one, and its delta is the fold")
struct BatchDeciderTests {
    /// A stream of submissions with the times they arrive: a random history's
    /// events, with retries (same content), conflicting reuses of ids and
    /// events the rules refuse mixed in.
    static func submissions(seed: UInt64) -> [(Submission, Timestamp)] {
        var rng = SplitMix64(state: seed &* 7_919)
        let (ledger, _) = FoldPropertyTests.history(seed: seed, steps: 1_500)
        var stream: [(Submission, Timestamp)] = []
        for recorded in ledger.recorded {
            stream.append((submission(recorded.event), recorded.recordedAt))
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<6:  // a retry of something sent before
                let earlier = stream.randomElement(using: &rng)!.0
                stream.append((earlier, recorded.recordedAt))
            case 6..<9:  // the same id with other content
                var other = stream.randomElement(using: &rng)!.0.event
                other.agentID += "-other"
                stream.append((submission(other), recorded.recordedAt))
            case 9..<12:  // a step on a case that does not exist
                let stray = Event(
                    eventID: EventID("ffffffff-0000-4000-8000-\(String(format: "%012x", stream.count))")!, agentID: "A-1",
                    caseID: "nowhere", body: .apology(Apology(note: nil)))
                stream.append((submission(stray), recorded.recordedAt))
            case 12..<15:  // more than anyone's allowance, on a case of this history
                guard let caseID = recorded.event.caseID else { break }
                let greedy = Event(
                    eventID: EventID("eeeeeeee-0000-4000-8000-\(String(format: "%012x", stream.count))")!, agentID: "A-2",
                    caseID: caseID,
                    body: .compensation(Compensation(amount: 50_000_000, currency: "USD", kind: .refund, approvedBy: nil, note: nil)))
                stream.append((submission(greedy), recorded.recordedAt))
            default:
                break
            }
        }
        return stream
    }

    static func submission(_ event: Event) -> Submission {
        // Any injective function of the content serves as its digest here.
        Submission(
            event: event, contentDigest: EventCodec.canonicalContent(of: event),
            authority: event.agentID == Ledger.daemonAgentID ? .daemon : .app)
    }

    /// The log's answer for ids recorded so far, as the writer would look it up.
    static func existing(_ batch: [Submission], in log: [EventID: ExistingEvent]) -> [EventID: ExistingEvent] {
        log.filter { id, _ in batch.contains { $0.event.eventID == id } }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func decidingInBatchesEqualsDecidingOneByOneAndTheDeltaIsTheFold(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let stream = Self.submissions(seed: seed)
        var state = LedgerState()
        var single = LedgerState()  // the same stream, decided one event at a time
        var log: [EventID: ExistingEvent] = [:]
        var records: [RecordedEvent] = []
        var counts: [String: Int] = [:]
        var start = 0
        while start < stream.count {
            let size = Int.random(in: 1...40, using: &rng)
            let slice = stream[start..<min(stream.count, start + size)]
            start += slice.count
            let at = slice.last!.1
            let batch = slice.map(\.0)
            let decision = Ledger.decide(
                batch: batch, existing: Self.existing(batch, in: log), state: state, at: at)
            #expect(decision.outcomes.count == batch.count)
            #expect(decision.records.map(\.position) == decision.records.indices.map { state.lastPosition + 1 + Int64($0) })

            // One by one, with the log looked up before each: the same answers.
            var singleLog = log
            for (index, submission) in batch.enumerated() {
                let expected: BatchOutcome
                if let prior = singleLog[submission.event.eventID] {
                    expected = prior.contentDigest == submission.contentDigest ? .duplicate(prior) : .refused(Rejection(.conflict, ""))
                } else {
                    switch Ledger.decide(submission.event, at: at, state: single, authority: submission.authority) {
                    case .success(let recorded):
                        single.apply(recorded)
                        singleLog[submission.event.eventID] = ExistingEvent(
                            position: recorded.position, hash: [], contentDigest: submission.contentDigest)
                        expected = .recorded(Int(recorded.position - state.lastPosition - 1))
                    case .failure(let rejection):
                        expected = .refused(rejection)
                    }
                }
                switch (decision.outcomes[index], expected) {
                case (.recorded(let a), .recorded(let b)): #expect(a == b)
                case (.repeated(let a), .duplicate(let prior)):
                    #expect(decision.records[a].position == prior.position)
                    counts["repeated", default: 0] += 1
                case (.duplicate(let a), .duplicate(let b)):
                    #expect(a == b)
                    counts["duplicate", default: 0] += 1
                case (.refused(let a), .refused(let b)):
                    #expect(a.code == b.code)
                    counts[a.code.rawValue, default: 0] += 1
                default:
                    Issue.record("submission \(index): batch said \(decision.outcomes[index]), one by one \(expected)")
                }
            }

            // The delta applied equals folding the records; it names only rows that changed.
            var folded = state
            for recorded in decision.records { folded.apply(recorded) }
            var applied = state
            applied.apply(decision.delta)
            #expect(applied == folded)
            for (caseID, row) in decision.delta.cases { #expect(state.cases[caseID] != row) }
            for (key, row) in decision.delta.budgets { #expect(state.budgets[key] != row) }
            for (eventID, caseID) in decision.delta.compensations {
                #expect(state.cases[caseID]?.compensations[eventID] != folded.cases[caseID]?.compensations[eventID])
            }
            #expect(applied == single)

            state = applied
            for (recorded, digest) in zip(decision.records, decision.digests) {
                log[recorded.event.eventID] = ExistingEvent(position: recorded.position, hash: [], contentDigest: digest)
            }
            records += decision.records
        }
        // Every kind of answer occurred.
        for kind in ["repeated", "duplicate", "conflict", "not_found", "budget_exceeded"] {
            #expect(counts[kind, default: 0] > 0, "no \(kind) in the stream")
        }
        // A fresh fold of everything recorded gives the state the deltas built.
        let fresh = records.reduce(LedgerState()) { Ledger.evolve($0, with: $1) }
        #expect(fresh == state)
        #expect(records.count > 1_000)
    }

    @Test(arguments: [4, 5] as [UInt64])
    func aBatchDecidedOverAPendingDeltaEqualsOneDecidedAfterItCommits(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let stream = Self.submissions(seed: seed)
        var committed = LedgerState()
        var pending: LedgerDelta?
        var pendingLog: [EventID: ExistingEvent] = [:]
        var log: [EventID: ExistingEvent] = [:]
        var start = 0
        while start < stream.count {
            let slice = stream[start..<min(stream.count, start + Int.random(in: 1...30, using: &rng))]
            start += slice.count
            let batch = slice.map(\.0)
            let at = slice.last!.1
            let known = Self.existing(batch, in: log.merging(pendingLog) { $1 })
            // Decided while the previous batch is still committing…
            let early = Ledger.decide(
                batch: batch, existing: known, state: committed, pending: pending.map { [$0] } ?? [], at: at)
            // …and after it committed.
            if let pending { committed.apply(pending) }
            log.merge(pendingLog) { $1 }
            let late = Ledger.decide(batch: batch, existing: known, state: committed, at: at)
            #expect(early.outcomes == late.outcomes)
            #expect(early.records == late.records)
            #expect(early.delta.cases == late.delta.cases)
            #expect(early.delta.budgets == late.delta.budgets)
            #expect(early.delta.allowances == late.delta.allowances)
            #expect(early.delta.compensations == late.delta.compensations)
            pending = early.delta
            pendingLog = [:]
            for (recorded, digest) in zip(early.records, early.digests) {
                pendingLog[recorded.event.eventID] = ExistingEvent(position: recorded.position, hash: [], contentDigest: digest)
            }
        }
        if let pending { committed.apply(pending) }
        #expect(committed.lastPosition > 500)
    }

    @Test func aRecordedCompensationReportsWhatIsLeftAndWarnsBelowTheThreshold() {
        let opened = LedgerUnderTest(supervisors: ["S-1"]).state
        func id(_ n: Int) -> EventID { EventID(String(format: "00000000-0000-4000-8000-%012x", n))! }
        func compensation(_ n: Int, _ amount: Int64, approvedBy: String? = nil) -> Event {
            Event(eventID: id(n), agentID: "A-7", caseID: "K-1", body: .compensation(Compensation(amount: amount, currency: "USD", kind: .refund, approvedBy: approvedBy)))
        }
        let complaint = Event(
            eventID: id(1), agentID: "A-7", caseID: "K-1", body: .complaint(Complaint(customerID: "C-1", channel: .phone, category: "late", severity: 3)))
        let batch = [complaint, compensation(2, 150_000), compensation(3, 10_000), compensation(4, 30_000), compensation(5, 900_000, approvedBy: "S-1")]
        let decision = Ledger.decide(
            batch: batch.map(Self.submission), existing: [:], state: opened, at: Timestamp(rfc3339: "2026-11-22T09:00:00Z")!)
        #expect(decision.records.count == 5)
        #expect(decision.spending[0] == nil, "a complaint spends nothing")
        // 200,000 allowance: 50,000 left is 25% (no warning); 40,000 is exactly 20% (no warning); 10,000 is 5%.
        #expect(decision.spending[1].map { [$0.remaining, $0.warning ? 1 : 0] } == [50_000, 0])
        #expect(decision.spending[2].map { [$0.remaining, $0.warning ? 1 : 0] } == [40_000, 0])
        #expect(decision.spending[3].map { [$0.remaining, $0.warning ? 1 : 0] } == [10_000, 1])
        // Charged to the approving supervisor: their 1,000,000, 100,000 left is 10%.
        #expect(decision.spending[4] == Spending(BudgetDay(allowance: 1_000_000, spent: 900_000), warnBelowPercent: 20))
        #expect(decision.spending[4]?.warning == true)
    }
}
