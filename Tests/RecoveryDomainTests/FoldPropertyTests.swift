import Foundation
import TestRandomness
import Testing

@testable import RecoveryDomain

@Suite("Folding evolve equals recomputing from the events")
struct FoldPropertyTests {
    static let supervisors: Set<String> = ["S-0", "S-1", "S-2"]
    static let configuration = {
        var configuration = LedgerConfiguration(timeZone: TimeZone(identifier: "America/New_York")!, supervisors: supervisors)
        // Short enough that a history of some weeks has customers both inside and past it.
        configuration.repeatWindowDays = 9
        configuration.followUpWithinDays = 1
        return configuration
    }()

    /// Builds a random history: mostly valid steps on live cases, some that the
    /// decider refuses (over budget, closed cases, second reversals); only what
    /// it accepts is recorded.
    static func history(seed: UInt64, steps: Int) -> (LedgerUnderTest, rejected: Int) {
        var rng = SplitMix64(state: seed)
        var ledger = LedgerUnderTest(configuration: configuration)
        // From late February across the spring-forward change, some weeks long.
        ledger.clock = Timestamp(rfc3339: "2026-02-25T12:00:00Z")!
        var caseCount = 0
        var compensations: [(caseID: String, id: String)] = []
        var rejected = 0
        let agents = (0..<12).map { "A-\($0)" }
        for _ in 0..<steps {
            ledger.clock.microseconds += Int64.random(in: 0...(40 * 60 * 1_000_000), using: &rng)
            let caseID = caseCount == 0 ? "K-0" : "K-\(Int.random(in: max(0, caseCount - 30)..<caseCount, using: &rng))"
            let agent = agents.randomElement(using: &rng)!
            let result: Result<RecordedEvent, Rejection>
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<18:
                let baseline = Bool.random(using: &rng) ? ",\"baseline\":\(Int.random(in: 0...10, using: &rng))" : ""
                result = ledger.submit(
                    #"{"type":"complaint","agent_id":"\#(agent)","case_id":"K-\#(caseCount)","customer_id":"C-\#(caseCount % 40)","channel":"\#(Channel.allCases.randomElement(using: &rng)!.rawValue)","category":"cat-\#(Int.random(in: 0..<4, using: &rng))","severity":\#(Int.random(in: 1...5, using: &rng))\#(baseline)}"#)
                caseCount += 1
            case 18..<30:
                result = ledger.submit(#"{"type":"apology","agent_id":"\#(agent)","case_id":"\#(caseID)"}"#)
            case 30..<58:
                let id = ledger.freshID()
                let approval = Int.random(in: 0..<4, using: &rng) == 0 ? "S-\(Int.random(in: 0...3, using: &rng))" : nil
                result = ledger.compensate(caseID, Int64.random(in: 1...120_000, using: &rng), agent: agent, approvedBy: approval, id: id)
                if result.isSuccess { compensations.append((caseID, id)) }
            case 58..<66:
                guard let target = compensations.randomElement(using: &rng) else { continue }
                result = ledger.submit(
                    #"{"type":"compensation_reversal","agent_id":"\#(agent)","case_id":"\#(target.caseID)","reverses":"\#(target.id)","reason":"correction"}"#)
            case 66..<71:
                result = ledger.submit(#"{"type":"escalation","agent_id":"\#(agent)","case_id":"\#(caseID)","to_agent_id":"S-\#(Int.random(in: 0...2, using: &rng))","reason":"manager"}"#)
            case 71..<92:
                let recommend = Bool.random(using: &rng) ? #","would_recommend":\#(Int.random(in: 0...10, using: &rng))"# : ""
                let resolved = Int.random(in: 0..<5, using: &rng) == 0 ? #","resolved":false"# : ""
                result = ledger.submit(
                    #"{"type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(Int.random(in: 0...10, using: &rng))\#(recommend)\#(resolved)}"#)
            case 92..<96:
                result = ledger.submit(#"{"type":"defection","agent_id":"\#(agent)","case_id":"\#(caseID)"}"#)
            default:
                let role = Bool.random(using: &rng) ? #","role":"supervisor""# : ""
                result = ledger.submit(
                    #"{"type":"allowance","agent_id":"\#(agents.randomElement(using: &rng)!)","daily_limit":\#(Int.random(in: 0...400_000, using: &rng))\#(role)}"#,
                    by: .admin)
            }
            if !result.isSuccess { rejected += 1 }
        }
        return (ledger, rejected)
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func foldingEvolveGivesTheBudgetsAndOutcomesComputedDirectly(seed: UInt64) throws {
        let (ledger, rejected) = Self.history(seed: seed, steps: 4_000)
        let events = ledger.recorded
        let configuration = Self.configuration
        #expect(events.count > 2_500)
        #expect(rejected > 50)  // the history did exercise refusals

        // Budgets, straight from the events.
        var spent: [BudgetKey: (spent: Int64, compensations: Int, reversals: Int)] = [:]
        var limits: [String: [(day: BusinessDay, limit: Int64)]] = [:]
        var charges: [EventID: (key: BudgetKey, amount: Int64)] = [:]
        func limit(_ person: String, _ day: BusinessDay) -> Int64 {
            limits[person]?.last { $0.day <= day }?.limit
                ?? (Self.supervisors.contains(person) ? configuration.defaultSupervisorAllowance : configuration.defaultAllowance)
        }
        for recorded in events {
            let day = configuration.businessDay(of: recorded.recordedAt)
            switch recorded.event.body {
            case .compensation(let compensation):
                let key = BudgetKey(agentID: compensation.approvedBy ?? recorded.event.agentID, day: day)
                spent[key, default: (0, 0, 0)].spent += compensation.amount
                spent[key, default: (0, 0, 0)].compensations += 1
                charges[recorded.event.eventID] = (key, compensation.amount)
                // The invariant, where money moves: never over the allowance.
                #expect(spent[key]!.spent <= limit(key.agentID, day))
            case .compensationReversal(let reversal):
                let charge = try #require(charges[reversal.reverses])
                spent[charge.key]!.spent -= charge.amount
                spent[charge.key]!.reversals += 1
            case .allowance(let change):
                limits[recorded.event.agentID, default: []].append((day, change.dailyLimit))
            default:
                break
            }
        }
        #expect(Set(spent.keys) == Set(ledger.state.budgets.keys))
        for (key, direct) in spent {
            let folded = try #require(ledger.state.budgets[key])
            #expect(folded.spent == direct.spent)
            #expect(folded.compensations == direct.compensations)
            #expect(folded.reversals == direct.reversals)
            #expect(folded.allowance == limit(key.agentID, key.day), "\(key)")
        }

        // Outcomes, straight from each case's events.
        let byCase = Dictionary(grouping: events.filter { $0.event.caseID != nil }, by: { $0.event.caseID! })
        #expect(byCase.count == ledger.state.cases.count)
        var directCounts: [Outcome: Int] = [:]
        var recommendations = [0, 0, 0]  // promoters, passives, detractors
        for (caseID, history) in byCase {
            guard case .complaint(let complaint) = history[0].event.body else {
                Issue.record("case \(caseID) does not start with its complaint")
                continue
            }
            let followUps = history.compactMap { if case .followUp(let f) = $0.event.body { f } else { nil } }
            let defected = history.contains { if case .defection = $0.event.body { true } else { false } }
            let resolved = followUps.contains { $0.isResolved }
            let outcome: Outcome
            if defected {
                outcome = .defected
            } else if !resolved {
                outcome = .open
            } else if let baseline = complaint.baseline, let last = followUps.last?.satisfaction {
                outcome = last > baseline ? .paradox : last == baseline ? .restored : .unrecovered
            } else {
                outcome = .unmeasured
            }
            let given = history.reduce(Int64(0)) { total, recorded in
                if case .compensation(let c) = recorded.event.body { return total + c.amount }
                if case .compensationReversal(let r) = recorded.event.body { return total - charges[r.reverses]!.amount }
                return total
            }
            let folded = try #require(ledger.state.cases[caseID])
            // Recovery practice (DESIGN.md §2), each from its definition.
            let opened = configuration.businessDay(of: history[0].recordedAt)
            let prior = events.filter { other in
                guard other.position < history[0].position, case .complaint(let earlier) = other.event.body else { return false }
                return earlier.customerID == complaint.customerID
                    && configuration.businessDay(of: other.recordedAt) >= opened.adding(days: -Int64(configuration.repeatWindowDays))
            }
            #expect(folded.priorCases == prior.count, "\(caseID)")
            let firstFollowUp = history.first { if case .followUp = $0.event.body { true } else { false } }
            func due(before limit: Int64) -> Timestamp {
                let compensated = history.first { recorded in
                    guard recorded.position < limit, case .compensation = recorded.event.body else { return false }
                    return true
                }
                return configuration.businessDay(of: (compensated ?? history[0]).recordedAt)
                    .adding(days: Int64(configuration.followUpWithinDays)).end(in: configuration.timeZone)
            }
            #expect(folded.followUpDue == due(before: Int64.max), "\(caseID)")
            #expect(folded.followUpLate == firstFollowUp.map { $0.recordedAt > due(before: $0.position) }, "\(caseID)")
            #expect(folded.wouldRecommend == followUps.last?.wouldRecommend, "\(caseID)")
            if let score = followUps.last?.wouldRecommend { recommendations[score >= 9 ? 0 : score >= 7 ? 1 : 2] += 1 }
            #expect(folded.outcome == outcome, "\(caseID)")
            #expect(folded.compensationNet == given, "\(caseID)")
            #expect(folded.satisfaction == followUps.last?.satisfaction)
            directCounts[outcome, default: 0] += 1
        }
        let report = OutcomeReport(cases: ledger.state.cases.values)
        #expect(report.total.counts == directCounts)
        #expect(directCounts.count >= 5)  // most outcomes occur
        #expect([report.total.promoters, report.total.passives, report.total.detractors] == recommendations)
        #expect(recommendations.allSatisfy { $0 > 10 })
        #expect(ledger.state.cases.values.contains { $0.priorCases > 0 } && ledger.state.cases.values.contains { $0.isRepeat == false })
        #expect(ledger.state.cases.values.contains { $0.followUpLate == true } && ledger.state.cases.values.contains { $0.followUpLate == false })

        // A customer's compensation per day, net of reversals (the cap's rows).
        var customerDays: [CustomerDayKey: Int64] = [:]
        var customerCharges: [EventID: (key: CustomerDayKey, amount: Int64)] = [:]
        let customers = Dictionary(uniqueKeysWithValues: ledger.state.cases.values.map { ($0.caseID, $0.customerID) })
        for recorded in events {
            switch recorded.event.body {
            case .compensation(let compensation):
                let key = CustomerDayKey(customerID: customers[recorded.event.caseID!]!, day: configuration.businessDay(of: recorded.recordedAt))
                customerDays[key, default: 0] += compensation.amount
                customerCharges[recorded.event.eventID] = (key, compensation.amount)
            case .compensationReversal(let reversal):
                let charge = try #require(customerCharges[reversal.reverses])
                customerDays[charge.key]! -= charge.amount
            default:
                break
            }
        }
        #expect(ledger.state.customerDays == customerDays)

        // A rebuild from the recorded payload bytes gives exactly the same state.
        var rebuilt = LedgerState()
        for recorded in events {
            let decoded = try EventCodec.decodeRecorded(payload: EventCodec.payload(of: recorded)).get()
            #expect(decoded == recorded)
            rebuilt.apply(decoded, configuration: configuration)
        }
        #expect(rebuilt == ledger.state)
    }
}
