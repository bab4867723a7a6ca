import Foundation
import LineProtocol
import RecoveryDomain

/// Given–when–then helpers: a ledger under test that decides and folds events
/// the way the daemon's writer does.
struct LedgerUnderTest {
    var configuration = LedgerConfiguration()
    var state = LedgerState()
    var clock = Timestamp(rfc3339: "2026-11-22T09:00:00Z")!
    var recorded: [RecordedEvent] = []
    private var nextID = 0

    init(configuration: LedgerConfiguration = LedgerConfiguration()) {
        self.configuration = configuration
    }

    mutating func freshID() -> String {
        nextID += 1
        return String(format: "00000000-0000-4000-8000-%012x", nextID)
    }

    /// Decodes `json` (with `event_id` filled in when absent), checks the
    /// role's permission as the server does, decides it at `clock` and, when
    /// accepted, folds it in.
    @discardableResult
    mutating func submit(_ json: String, by role: ClientRole = .frontline, at time: String? = nil) -> Result<RecordedEvent, Rejection> {
        var text = json
        if !text.contains("\"event_id\"") {
            text = "{\"event_id\":\"\(freshID())\"," + text.dropFirst()
        }
        if let time { clock = Timestamp(rfc3339: time)! }
        let result = EventCodec.decode(json: Array(text.utf8), currency: configuration.currency).flatMap { event -> Result<RecordedEvent, Rejection> in
            if let refusal = Permissions.check(event.body.type, by: role) {
                return .failure(Rejection(.forbidden, refusal.message))
            }
            return Ledger.decide(event, at: clock, state: state, configuration: configuration)
        }
        if case .success(let event) = result {
            state.apply(event, configuration: configuration)
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

    mutating func compensate(_ caseID: String, _ amount: Int64, agent: String = "A-7", approvedBy: String? = nil, id: String? = nil, at time: String? = nil) -> Result<RecordedEvent, Rejection> {
        let approval = approvedBy.map { ",\"approved_by\":\"\($0)\"" } ?? ""
        let eventID = id.map { "\"event_id\":\"\($0)\"," } ?? ""
        return submit(
            #"{\#(eventID)"type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(amount),"currency":"USD","kind":"refund"\#(approval)}"#,
            at: time)
    }

    mutating func followUp(_ caseID: String, satisfaction: Int, resolved: Bool? = nil, at time: String? = nil) -> Result<RecordedEvent, Rejection> {
        let flag = resolved.map { ",\"resolved\":\($0)" } ?? ""
        return submit(#"{"type":"follow_up","agent_id":"A-7","case_id":"\#(caseID)","satisfaction":\#(satisfaction)\#(flag)}"#, at: time)
    }

    func budget(_ agent: String, _ day: String) -> BudgetDay {
        state.budget(for: agent, on: BusinessDay(day)!, configuration: configuration)
    }
}

extension Result {
    var rejection: Rejection? {
        if case .failure(let error) = self { return error as? Rejection }
        return nil
    }
    var isSuccess: Bool { if case .success = self { true } else { false } }
}
