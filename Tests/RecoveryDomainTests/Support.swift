import Foundation
import LineProtocol
import RecoveryWire
import RecoveryDomain

/// Given–when–then helpers: a ledger under test that decides and folds events
/// the way the daemon's writer does.
struct LedgerUnderTest {
    var state = LedgerState()
    var clock = Timestamp(rfc3339: "2026-11-22T09:00:00Z")!
    var recorded: [RecordedEvent] = []
    private var nextID = 0

    /// A new ledger: `seed`'s opening events are its first (one batch,
    /// recorded by the daemon), as `recoveryd serve` records its flags.
    init(seed: LedgerSeed = LedgerSeed(), at time: String? = nil) {
        if let time { clock = Timestamp(rfc3339: time)! }
        var ids = 0
        let opening = seed.openingEvents {
            ids += 1
            return EventID(String(format: "0000ffff-0000-4000-8000-%012x", ids))!
        }
        guard !opening.isEmpty else { return }
        let submissions = opening.map {
            Submission(event: $0, contentDigest: Array(EventCodec.canonicalContent(of: $0).prefix(32)), authority: .daemon)
        }
        let decision = Ledger.decide(batch: submissions, existing: [:], state: state, at: clock)
        precondition(decision.records.count == opening.count, "the opening was refused: \(decision.outcomes)")
        state.apply(decision.delta)
        recorded += decision.records
    }

    /// Supervisors (who follow the supervisors' default allowance) and settings, as opening events.
    init(supervisors: [String], settings: [SettingName: SettingValue] = [:], at time: String? = nil) {
        self.init(seed: LedgerSeed(settings: settings, supervisors: supervisors), at: time)
    }

    var settings: LedgerSettings { state.settingsHistory.settings(on: state.settingsHistory.businessDay(of: clock)) }

    mutating func freshID() -> String {
        nextID += 1
        return String(format: "00000000-0000-4000-8000-%012x", nextID)
    }

    /// Decodes `json` (with `event_id` filled in when absent), checks the
    /// role's permission as the server does, decides it at `clock` and, when
    /// accepted, folds it in.
    @discardableResult
    mutating func submit(
        _ json: String, by role: ClientRole = .frontline, at time: String? = nil, as authority: Authority = .app
    ) -> Result<RecordedEvent, Rejection> {
        var text = json
        if !text.contains("\"event_id\"") {
            text = "{\"event_id\":\"\(freshID())\"," + text.dropFirst()
        }
        if let time { clock = Timestamp(rfc3339: time)! }
        let result = EventCodec.decode(json: Array(text.utf8), currency: state.settingsHistory.currency).flatMap { event -> Result<RecordedEvent, Rejection> in
            if let refusal = Permissions.check(event.body.type, by: role) {
                return .failure(Rejection(.forbidden, refusal.message))
            }
            if case .person(let agent) = authority, let refusal = Permissions.check(event, boundTo: agent) {
                return .failure(Rejection(.forbidden, refusal.message))
            }
            return Ledger.decide(event, at: clock, state: state, authority: authority)
        }
        if case .success(let event) = result {
            state.apply(event)
            recorded.append(event)
        }
        return result
    }

    mutating func open(_ caseID: String, agent: String = "A-7", baseline: Int? = 6, at time: String? = nil) {
        let base = baseline.map { ",\"baseline\":\($0)" } ?? ""
        let result = submit(
            #"{"type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"C-1","channel":"phone","category":"late delivery","severity":3\#(base)}"#,
            at: time)
        precondition((try? result.get()) != nil, "complaint refused: \(result)")
    }

    mutating func compensate(
        _ caseID: String, _ amount: Int64, agent: String = "A-7", approvedBy: String? = nil, overrideReason: String? = nil, id: String? = nil,
        at time: String? = nil, as authority: Authority = .app
    ) -> Result<RecordedEvent, Rejection> {
        let approval = approvedBy.map { ",\"approved_by\":\"\($0)\"" } ?? ""
        let override = overrideReason.map { ",\"override_reason\":\"\($0)\"" } ?? ""
        let eventID = id.map { "\"event_id\":\"\($0)\"," } ?? ""
        return submit(
            #"{\#(eventID)"type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(amount),"currency":"USD","kind":"refund"\#(approval)\#(override)}"#,
            at: time, as: authority)
    }

    /// Records a `ledger_setting` as an admin would.
    @discardableResult
    mutating func set(_ name: String, _ value: String, at time: String? = nil) -> Result<RecordedEvent, Rejection> {
        submit(#"{"type":"ledger_setting","agent_id":"ADM","name":"\#(name)","value":\#(value)}"#, by: .admin, at: time)
    }

    mutating func followUp(
        _ caseID: String, satisfaction: Int, resolved: Bool? = nil, wouldRecommend: Int? = nil, agent: String = "A-7", at time: String? = nil,
        as authority: Authority = .app
    ) -> Result<RecordedEvent, Rejection> {
        let flag = resolved.map { ",\"resolved\":\($0)" } ?? ""
        let recommend = wouldRecommend.map { ",\"would_recommend\":\($0)" } ?? ""
        return submit(
            #"{"type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(satisfaction)\#(flag)\#(recommend)}"#, at: time,
            as: authority)
    }

    func budget(_ agent: String, _ day: String) -> BudgetDay {
        state.budget(for: agent, on: BusinessDay(day)!)
    }
}

extension Result {
    var rejection: Rejection? {
        if case .failure(let error) = self { return error as? Rejection }
        return nil
    }
    var isSuccess: Bool { if case .success = self { true } else { false } }
}
