import Foundation
import TestRandomness
import Testing

@testable import RecoveryDomain

@Suite("Folding evolve equals recomputing from the events")
struct FoldPropertyTests {
    static let supervisors = ["S-0", "S-1", "S-2"]
    /// What the generated ledgers open with (their first events), as
    /// `recoveryd serve` records its flags.
    static let seed = LedgerSeed(
        settings: [
            .timeZone: .text("America/New_York"),
            // Short enough that a history of some weeks has customers both inside and past it.
            .repeatWindowDays: .integer(9),
            .followUpWithinDays: .integer(1),
        ],
        supervisors: supervisors)

    /// Builds a random history: mostly valid steps on live cases, some that the
    /// decider refuses (over budget, closed cases, second reversals, bound
    /// tokens acting on others' money and cases, fixed settings); settings
    /// changed along the way; only what it accepts is recorded.
    static func history(seed: UInt64, steps: Int) -> (LedgerUnderTest, rejected: Int) {
        var rng = SplitMix64(state: seed)
        // From late February across the spring-forward change, some weeks long.
        var ledger = LedgerUnderTest(seed: Self.seed, at: "2026-02-25T12:00:00Z")
        var caseCount = 0
        var compensations: [(caseID: String, id: String)] = []
        var rejected = 0
        let agents = (0..<12).map { "A-\($0)" }
        for _ in 0..<steps {
            ledger.clock.microseconds += Int64.random(in: 0...(40 * 60 * 1_000_000), using: &rng)
            let caseID = caseCount == 0 ? "K-0" : "K-\(Int.random(in: max(0, caseCount - 30)..<caseCount, using: &rng))"
            let agent = agents.randomElement(using: &rng)!
            // A third of the steps come through a token bound to the agent.
            let authority: Authority = Int.random(in: 0..<3, using: &rng) == 0 ? .person(agent) : .app
            let result: Result<RecordedEvent, Rejection>
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<18:
                let baseline = Bool.random(using: &rng) ? ",\"baseline\":\(Int.random(in: 0...10, using: &rng))" : ""
                result = ledger.submit(
                    #"{"type":"complaint","agent_id":"\#(agent)","case_id":"K-\#(caseCount)","customer_id":"C-\#(caseCount % 40)","channel":"\#(Channel.allCases.randomElement(using: &rng)!.rawValue)","category":"cat-\#(Int.random(in: 0..<4, using: &rng))","severity":\#(Int.random(in: 1...5, using: &rng))\#(baseline)}"#)
                caseCount += 1
            case 18..<30:
                result = ledger.submit(#"{"type":"apology","agent_id":"\#(agent)","case_id":"\#(caseID)"}"#)
            case 30..<56:
                let id = ledger.freshID()
                let approval = Int.random(in: 0..<4, using: &rng) == 0 ? "S-\(Int.random(in: 0...3, using: &rng))" : nil
                let override = approval != nil && Bool.random(using: &rng) ? "severity 5" : nil
                result = ledger.compensate(
                    caseID, Int64.random(in: 1...120_000, using: &rng), agent: agent, approvedBy: approval, overrideReason: override, id: id,
                    as: approval == nil ? authority : .app)
                if result.isSuccess { compensations.append((caseID, id)) }
            case 56..<64:
                guard let target = compensations.randomElement(using: &rng) else { continue }
                result = ledger.submit(
                    #"{"type":"compensation_reversal","agent_id":"\#(agent)","case_id":"\#(target.caseID)","reverses":"\#(target.id)","reason":"correction"}"#,
                    as: authority)
            case 64..<69:
                result = ledger.submit(
                    #"{"type":"escalation","agent_id":"\#(agent)","case_id":"\#(caseID)","to_agent_id":"S-\#(Int.random(in: 0...2, using: &rng))","reason":"manager"}"#,
                    as: authority)
            case 69..<90:
                let recommend = Bool.random(using: &rng) ? #","would_recommend":\#(Int.random(in: 0...10, using: &rng))"# : ""
                let resolved = Int.random(in: 0..<5, using: &rng) == 0 ? #","resolved":false"# : ""
                result = ledger.submit(
                    #"{"type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(Int.random(in: 0...10, using: &rng))\#(recommend)\#(resolved)}"#,
                    as: authority)
            case 90..<94:
                result = ledger.submit(#"{"type":"defection","agent_id":"\#(agent)","case_id":"\#(caseID)"}"#, as: authority)
            case 94..<97:
                let role = Bool.random(using: &rng) ? #","role":"supervisor""# : ""
                let limit = Int.random(in: 0..<4, using: &rng) == 0 && !role.isEmpty ? "" : #","daily_limit":\#(Int.random(in: 0...400_000, using: &rng))"#
                result = ledger.submit(
                    #"{"type":"allowance","agent_id":"\#(agents.randomElement(using: &rng)!)"\#(limit)\#(role)}"#, by: .admin)
            default:
                let (name, value) = [
                    ("default_allowance", "\(Int.random(in: 50_000...300_000, using: &rng))"),
                    ("supervisor_allowance", "\(Int.random(in: 300_000...1_500_000, using: &rng))"),
                    ("customer_daily_cap", Bool.random(using: &rng) ? "null" : "\(Int.random(in: 60_000...250_000, using: &rng))"),
                    ("warn_below_percent", "\(Int.random(in: 0...100, using: &rng))"),
                    ("follow_up_within_days", "\(Int.random(in: 0...3, using: &rng))"),
                    ("repeat_window_days", "\(Int.random(in: 2...20, using: &rng))"),
                    ("time_zone", #""UTC""#),
                ].randomElement(using: &rng)!
                result = ledger.set(name, value)
            }
            if !result.isSuccess { rejected += 1 }
        }
        return (ledger, rejected)
    }

    /// The settings in force on each day, straight from the `ledger_setting`
    /// events: a change holds from the moment it is recorded, on its day and after.
    struct DirectSettings {
        var changes: [(since: BusinessDay, position: Int64, name: SettingName, value: SettingValue)] = []

        func value(_ name: SettingName, on day: BusinessDay, before position: Int64 = .max) -> SettingValue {
            changes.last { $0.name == name && $0.since <= day && $0.position < position }?.value ?? LedgerSettings.builtIn.value(of: name)
        }

        func integer(_ name: SettingName, on day: BusinessDay, before position: Int64 = .max) -> Int64? {
            if case .integer(let number) = value(name, on: day, before: position) { return number }
            return nil
        }
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func foldingEvolveGivesTheBudgetsAndOutcomesComputedDirectly(seed: UInt64) throws {
        let (ledger, rejected) = Self.history(seed: seed, steps: 4_000)
        let events = ledger.recorded
        #expect(events.count > 2_500)
        #expect(rejected > 50)  // the history did exercise refusals
        let zone = TimeZone(identifier: "America/New_York")!
        func day(_ recorded: RecordedEvent) -> BusinessDay { BusinessDay(recorded.recordedAt, in: zone) }

        // Settings, straight from the events: the opening ones hold from the start.
        var settings = DirectSettings()
        for recorded in events {
            guard case .ledgerSetting(let setting) = recorded.event.body else { continue }
            let opening = recorded.event.agentID == Ledger.daemonAgentID
            #expect(opening || !setting.name.isFixed, "a fixed setting was recorded after the opening")
            settings.changes.append((opening ? .opening : day(recorded), recorded.position, setting.name, setting.value))
        }
        #expect(settings.changes.count > 8, "settings changed along the way")
        #expect(ledger.state.settingsHistory.changes.map { [$0.name.rawValue, $0.value.description, $0.since.description] }
            == settings.changes.map { [$0.name.rawValue, $0.value.description, $0.since.description] })

        // Budgets, straight from the events, with each day's allowance as it stood at each moment.
        var spent: [BudgetKey: BudgetDay] = [:]
        var allowances: [String: [(day: BusinessDay, limit: Int64?, role: StaffRole)]] = [:]
        var charges: [EventID: (key: BudgetKey, amount: Int64)] = [:]
        func role(_ person: String, _ day: BusinessDay) -> StaffRole { allowances[person]?.last { $0.day <= day }?.role ?? .agent }
        var settingsSoFar = DirectSettings()
        /// A person's allowance on `day` as the events so far set it.
        func limitNow(_ person: String, _ day: BusinessDay) -> Int64 {
            if let limit = allowances[person]?.last(where: { $0.day <= day })?.limit { return limit }
            return settingsSoFar.integer(role(person, day) == .supervisor ? .supervisorAllowance : .defaultAllowance, on: day)!
        }
        for recorded in events {
            let today = day(recorded)
            switch recorded.event.body {
            case .ledgerSetting(let setting):
                let opening = recorded.event.agentID == Ledger.daemonAgentID
                settingsSoFar.changes.append((opening ? .opening : today, recorded.position, setting.name, setting.value))
                // The day's rows of people on a default allowance move with it.
                for key in spent.keys where key.day == today && allowances[key.agentID]?.last(where: { $0.day <= today })?.limit == nil {
                    spent[key]!.allowance = settingsSoFar.integer(role(key.agentID, today) == .supervisor ? .supervisorAllowance : .defaultAllowance, on: today)!
                }
            case .compensation(let compensation):
                let key = BudgetKey(agentID: compensation.approvedBy ?? recorded.event.agentID, day: today)
                var row = spent[key] ?? BudgetDay(allowance: limitNow(key.agentID, today))
                row.spent += compensation.amount
                row.compensations += 1
                spent[key] = row
                charges[recorded.event.eventID] = (key, compensation.amount)
                // The invariant, where money moves: never over the allowance.
                #expect(row.spent <= row.allowance)
            case .compensationReversal(let reversal):
                let charge = try #require(charges[reversal.reverses])
                if charge.key.day == today {
                    spent[charge.key]!.spent -= charge.amount
                    spent[charge.key]!.reversals += 1
                } else {
                    // A closed day is never touched: the entry is today's.
                    let key = BudgetKey(agentID: charge.key.agentID, day: today)
                    var row = spent[key] ?? BudgetDay(allowance: limitNow(key.agentID, today))
                    row.lateReversals += 1
                    row.lateReversed += charge.amount
                    spent[key] = row
                }
            case .allowance(let change):
                let opening = recorded.event.agentID != Ledger.daemonAgentID && events.first { $0.event.agentID == Ledger.daemonAgentID }?.recordedAt == recorded.recordedAt
                let since = opening ? BusinessDay.opening : today
                let role = change.role ?? role(recorded.event.agentID, today)
                allowances[recorded.event.agentID, default: []].removeAll { $0.day == since }
                allowances[recorded.event.agentID, default: []].append((since, change.dailyLimit, role))
                allowances[recorded.event.agentID]!.sort { $0.day < $1.day }
                let key = BudgetKey(agentID: recorded.event.agentID, day: today)
                if spent[key] != nil { spent[key]!.allowance = limitNow(key.agentID, today) }
            default:
                break
            }
        }
        #expect(Set(spent.keys) == Set(ledger.state.budgets.keys))
        for (key, direct) in spent {
            #expect(ledger.state.budgets[key] == direct, "\(key)")
        }
        #expect(spent.values.contains { $0.lateReversals > 0 } && spent.values.contains { $0.reversals > 0 })

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
            // Recovery practice (docs/EVENTS.md), each from its definition and
            // the settings in force on the day that decides it.
            let opened = day(history[0])
            let window = settings.integer(.repeatWindowDays, on: opened, before: history[0].position)!
            let prior = events.filter { other in
                guard other.position < history[0].position, case .complaint(let earlier) = other.event.body else { return false }
                return earlier.customerID == complaint.customerID && day(other) >= opened.adding(days: -window)
            }
            #expect(folded.priorCases == prior.count, "\(caseID)")
            let firstFollowUp = history.first { if case .followUp = $0.event.body { true } else { false } }
            func due(before limit: Int64) -> Timestamp {
                let compensated = history.first { recorded in
                    guard recorded.position < limit, case .compensation = recorded.event.body else { return false }
                    return true
                }
                let from = compensated ?? history[0]
                return day(from).adding(days: settings.integer(.followUpWithinDays, on: day(from), before: from.position)!).end(in: zone)
            }
            #expect(folded.followUpDue == due(before: Int64.max), "\(caseID)")
            #expect(folded.followUpLate == firstFollowUp.map { $0.recordedAt > due(before: $0.position) }, "\(caseID)")
            // The last answer given stands; a defection makes a detractor.
            let answered = followUps.last { $0.wouldRecommend != nil }?.wouldRecommend
            #expect(folded.wouldRecommend == answered, "\(caseID)")
            if defected {
                recommendations[2] += 1
            } else if let score = answered {
                recommendations[score >= 9 ? 0 : score >= 7 ? 1 : 2] += 1
            }
            #expect(folded.outcome == outcome, "\(caseID)")
            #expect(folded.compensationNet == given, "\(caseID)")
            #expect(folded.satisfaction == followUps.last?.satisfaction)
            directCounts[outcome, default: 0] += 1
        }
        let report = OutcomeReport(cases: ledger.state.cases.values, now: ledger.clock)
        #expect(report.total.counts == directCounts)
        #expect(directCounts.count >= 5)  // most outcomes occur
        #expect([report.total.promoters, report.total.passives, report.total.detractors] == recommendations)
        #expect(recommendations.allSatisfy { $0 > 10 })
        #expect(ledger.state.cases.values.contains { $0.priorCases > 0 } && ledger.state.cases.values.contains { $0.isRepeat == false })
        #expect(ledger.state.cases.values.contains { $0.followUpLate == true } && ledger.state.cases.values.contains { $0.followUpLate == false })

        // A customer's compensation per day, net of same-day reversals (the cap's rows).
        var customerDays: [CustomerDayKey: Int64] = [:]
        var customerCharges: [EventID: (key: CustomerDayKey, amount: Int64)] = [:]
        let customers = Dictionary(uniqueKeysWithValues: ledger.state.cases.values.map { ($0.caseID, $0.customerID) })
        for recorded in events {
            switch recorded.event.body {
            case .compensation(let compensation):
                let key = CustomerDayKey(customerID: customers[recorded.event.caseID!]!, day: day(recorded))
                customerDays[key, default: 0] += compensation.amount
                customerCharges[recorded.event.eventID] = (key, compensation.amount)
            case .compensationReversal(let reversal):
                let charge = try #require(customerCharges[reversal.reverses])
                if charge.key.day == day(recorded) { customerDays[charge.key]! -= charge.amount }
            default:
                break
            }
        }
        #expect(ledger.state.customerDays == customerDays)

        // A rebuild from the recorded payload bytes gives exactly the same
        // state, whether it starts from nothing or from the opening events.
        var rebuilt = LedgerState()
        for recorded in events {
            let decoded = try EventCodec.decodeRecorded(payload: EventCodec.payload(of: recorded)).get()
            #expect(decoded == recorded)
            rebuilt.apply(decoded)
        }
        #expect(rebuilt == ledger.state)
        let opening = events.prefix { $0.recordedAt == events[0].recordedAt }
        var seeded = LedgerState(opening: opening)
        for recorded in events { seeded.apply(recorded) }
        #expect(seeded == ledger.state)
    }
}
