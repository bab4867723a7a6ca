/// The ledger's decider (DESIGN.md §6): ``decide(_:at:state:configuration:)``
/// judges one incoming event against the state, ``evolve(_:with:configuration:)``
/// folds a recorded event into it. The live writer, a replay and a rebuild all
/// use the same ``evolve``, so they cannot disagree.
public enum Ledger {
    /// How far `occurred_at` may lie after `recorded_at` (clocks disagree;
    /// time zones are easy to get wrong): 24 h, in microseconds.
    public static let occurredAtLead: Int64 = 86_400 * 1_000_000

    /// Decides whether `event` may be recorded at `recordedAt`. Who may send
    /// it is not the domain's question: the protocol's `Permissions` settle
    /// that before an event reaches the writer. On success the result is the event as it will be recorded,
    /// at the position after `state.lastPosition`.
    public static func decide(
        _ event: Event, at recordedAt: Timestamp, state: LedgerState,
        configuration: LedgerConfiguration
    ) -> Result<RecordedEvent, Rejection> {
        Result { () throws(Rejection) -> RecordedEvent in
            try check(event, at: recordedAt, state: state, configuration: configuration)
            return RecordedEvent(position: state.lastPosition + 1, recordedAt: recordedAt, event: event)
        }
    }

    static func check(
        _ event: Event, at recordedAt: Timestamp, state: some LedgerRows,
        configuration: LedgerConfiguration
    ) throws(Rejection) {
        let day = configuration.businessDay(of: recordedAt)
        if let occurred = event.occurredAt, occurred.instant.microseconds > recordedAt.microseconds + Self.occurredAtLead {
            throw .invalid("occurred_at \(occurred.text) is more than 24 h after the time it is recorded (\(recordedAt))")
        }
        if case .allowance = event.body { return }
        guard let caseID = event.caseID else { throw .invalid("case_id is required") }
        guard let current = state.caseState(caseID) else {
            if case .complaint = event.body { return }
            throw Rejection(.notFound, "no case \(caseID); a case is opened by a complaint")
        }
        switch event.body {
        case .complaint:
            throw Rejection(.conflict, "case \(caseID) was opened already (last event at position \(current.lastPosition))")
        case .apology, .escalation:
            try requireOpen(current)
            if case .apology = event.body { try requireAfterComplaint(event, current, recordedAt) }
        case .compensation(let compensation):
            try requireOpen(current)
            try checkCharge(compensation, by: event.agentID, on: day, state: state, configuration: configuration)
            if let cap = configuration.customerDailyCap {
                let spent = state.customerSpent(CustomerDayKey(customerID: current.customerID, day: day)) ?? 0
                guard spent + compensation.amount <= cap else {
                    let left = Money(minorUnits: max(0, cap - spent), currency: configuration.currency)
                    let asked = Money(minorUnits: compensation.amount, currency: configuration.currency)
                    throw Rejection(
                        .budgetExceeded,
                        "customer \(current.customerID) has \(left) left of the daily cap on \(day), \(asked) asked; no approval lifts it")
                }
            }
        case .compensationReversal(let reversal):
            guard let entry = current.compensations[reversal.reverses] else {
                throw Rejection(.notFound, "no compensation \(reversal.reverses) in case \(caseID)")
            }
            guard !entry.reversed else {
                throw Rejection(.conflict, "compensation \(reversal.reverses) was reversed already")
            }
        case .followUp, .defection:
            guard current.status != .defected else {
                throw Rejection(.caseClosed, "the customer of case \(caseID) defected; the case is final")
            }
            if case .followUp = event.body { try requireAfterComplaint(event, current, recordedAt) }
        case .allowance:
            preconditionFailure("allowance events are decided above")
        }
    }

    /// An apology or follow-up dated before the complaint it answers is
    /// refused. One without `occurred_at` is not: it happens as it is
    /// recorded, and if the complaint was dated ahead of that (clock skew,
    /// within the 24 h allowed), the times to it count as zero.
    private static func requireAfterComplaint(_ event: Event, _ current: CaseState, _ recordedAt: Timestamp) throws(Rejection) {
        guard let occurred = event.occurredAt, occurred.instant < current.openedAt else { return }
        throw .invalid(
            "occurred_at \(occurred.text) is before the complaint of case \(current.caseID) (\(current.openedAt)); \(event.type == .apology ? "an apology" : "a follow-up") cannot come before it"
        )
    }

    private static func requireOpen(_ current: CaseState) throws(Rejection) {
        switch current.status {
        case .open: return
        case .closed: throw Rejection(.caseClosed, "case \(current.caseID) is closed (resolved by a follow-up)")
        case .defected: throw Rejection(.caseClosed, "the customer of case \(current.caseID) defected; the case is final")
        }
    }

    private static func checkCharge(
        _ compensation: Compensation, by agentID: String, on day: BusinessDay, state: some LedgerRows,
        configuration: LedgerConfiguration
    ) throws(Rejection) {
        let payer = compensation.approvedBy ?? agentID
        if let approver = compensation.approvedBy,
            state.role(of: approver, on: day, configuration: configuration) != .supervisor
        {
            throw Rejection(.forbidden, "approved_by \(approver) is not a supervisor")
        }
        let budget = state.budget(for: payer, on: day, configuration: configuration)
        guard compensation.amount <= budget.remaining else {
            let left = Money(minorUnits: budget.remaining, currency: configuration.currency)
            let asked = Money(minorUnits: compensation.amount, currency: configuration.currency)
            let advice = compensation.approvedBy == nil ? "; ask a supervisor to approve" : ""
            throw Rejection(.budgetExceeded, "\(payer) has \(left) left on \(day), \(asked) asked\(advice)")
        }
    }

    /// Folds a recorded event into the state. It trusts that the event was
    /// decided (or replayed from the log) and never refuses it.
    public static func evolve(_ state: LedgerState, with recorded: RecordedEvent, configuration: LedgerConfiguration)
        -> LedgerState
    {
        var next = state
        next.apply(recorded, configuration: configuration)
        return next
    }
}

/// What must be in the working state before an event can be decided: the
/// daemon loads these from the projection tables first.
public struct StateRequirements: Sendable, Equatable {
    public var caseIDs: Set<String> = []
    /// People whose allowance settings are needed.
    public var people: Set<String> = []
    public var budgetDays: Set<BudgetKey> = []
}

extension Ledger {
    /// The rows `event` may touch if recorded at `recordedAt`. A reversal's
    /// original day is only known from its case, so it needs the case loaded
    /// first; its budget day is then found through the case's compensation entry.
    public static func requirements(of event: Event, recordedAt: Timestamp, configuration: LedgerConfiguration)
        -> StateRequirements
    {
        var needs = StateRequirements()
        let day = configuration.businessDay(of: recordedAt)
        if let caseID = event.caseID { needs.caseIDs.insert(caseID) }
        switch event.body {
        case .allowance:
            needs.people.insert(event.agentID)
            needs.budgetDays.insert(BudgetKey(agentID: event.agentID, day: day))
        case .compensation(let compensation):
            let payer = compensation.approvedBy ?? event.agentID
            needs.people.insert(payer)
            needs.budgetDays.insert(BudgetKey(agentID: payer, day: day))
        default:
            break
        }
        return needs
    }
}
