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

    private static func check(
        _ event: Event, at recordedAt: Timestamp, state: LedgerState,
        configuration: LedgerConfiguration
    ) throws(Rejection) {
        let day = configuration.businessDay(of: recordedAt)
        if let occurred = event.occurredAt, occurred.instant.microseconds > recordedAt.microseconds + Self.occurredAtLead {
            throw .invalid("occurred_at \(occurred.text) is more than 24 h after the time it is recorded (\(recordedAt))")
        }
        if case .allowance = event.body { return }
        guard let caseID = event.caseID else { throw .invalid("case_id is required") }
        guard let current = state.cases[caseID] else {
            if case .complaint = event.body { return }
            throw Rejection(.notFound, "no case \(caseID); a case is opened by a complaint")
        }
        switch event.body {
        case .complaint:
            throw Rejection(.conflict, "case \(caseID) was opened already (last event at position \(current.lastPosition))")
        case .apology, .escalation:
            try requireOpen(current)
        case .compensation(let compensation):
            try requireOpen(current)
            try checkCharge(compensation, by: event.agentID, on: day, state: state, configuration: configuration)
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
        case .allowance:
            preconditionFailure("allowance events are decided above")
        }
    }

    private static func requireOpen(_ current: CaseState) throws(Rejection) {
        switch current.status {
        case .open: return
        case .closed: throw Rejection(.caseClosed, "case \(current.caseID) is closed (resolved by a follow-up)")
        case .defected: throw Rejection(.caseClosed, "the customer of case \(current.caseID) defected; the case is final")
        }
    }

    private static func checkCharge(
        _ compensation: Compensation, by agentID: String, on day: BusinessDay, state: LedgerState,
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

extension LedgerState {
    /// In-place ``Ledger/evolve(_:with:configuration:)``.
    public mutating func apply(_ recorded: RecordedEvent, configuration: LedgerConfiguration) {
        precondition(recorded.position == lastPosition + 1, "events are folded in position order, without gaps")
        lastPosition = recorded.position
        let event = recorded.event
        let day = configuration.businessDay(of: recorded.recordedAt)
        let at = recorded.occurredAt

        if case .allowance(let change) = event.body {
            let role = change.role ?? role(of: event.agentID, on: day, configuration: configuration)
            var settings = allowances[event.agentID, default: []]
            settings.removeAll { $0.since == day }
            settings.append(AllowanceSetting(since: day, dailyLimit: change.dailyLimit, role: role))
            settings.sort { $0.since < $1.since }
            allowances[event.agentID] = settings
            budgets[BudgetKey(agentID: event.agentID, day: day)]?.allowance = change.dailyLimit
            return
        }
        guard let caseID = event.caseID else { return }

        if case .complaint(let complaint) = event.body {
            cases[caseID] = CaseState(
                caseID: caseID, customerID: complaint.customerID, channel: complaint.channel,
                category: complaint.category, severity: complaint.severity, baseline: complaint.baseline,
                owner: event.agentID, openedAt: at, openedDay: configuration.businessDay(of: at), status: .open,
                steps: .listened, firstApologyAt: nil, resolvedAt: nil, satisfaction: nil, wouldRecommend: nil,
                compensationNet: 0, compensations: [:], lastPosition: recorded.position)
            return
        }
        guard var current = cases[caseID] else { return }
        current.lastPosition = recorded.position
        switch event.body {
        case .complaint, .allowance:
            break
        case .apology:
            current.steps.insert(.acknowledged)
            if current.firstApologyAt == nil { current.firstApologyAt = at }
        case .compensation(let compensation):
            let payer = compensation.approvedBy ?? event.agentID
            charge(payer, on: day, amount: compensation.amount, configuration: configuration)
            current.compensations[event.eventID] = CaseState.CompensationEntry(
                amount: compensation.amount, chargedTo: payer, day: day, reversed: false)
            current.compensationNet += compensation.amount
            current.steps.insert(.met)
        case .compensationReversal(let reversal):
            guard var entry = current.compensations[reversal.reverses], !entry.reversed else { break }
            entry.reversed = true
            current.compensations[reversal.reverses] = entry
            current.compensationNet -= entry.amount
            credit(entry.chargedTo, on: entry.day, amount: entry.amount, configuration: configuration)
        case .escalation(let escalation):
            current.owner = escalation.toAgentID
        case .followUp(let followUp):
            current.satisfaction = followUp.satisfaction
            current.wouldRecommend = followUp.wouldRecommend
            current.steps.insert(.followedUp)
            if followUp.isResolved, current.status == .open {
                current.status = .closed
                current.resolvedAt = at
                current.steps.insert(.met)
            }
        case .defection:
            current.status = .defected
        }
        cases[caseID] = current
    }

    private mutating func charge(_ agentID: String, on day: BusinessDay, amount: Int64, configuration: LedgerConfiguration) {
        var row = budget(for: agentID, on: day, configuration: configuration)
        row.spent += amount
        row.compensations += 1
        budgets[BudgetKey(agentID: agentID, day: day)] = row
    }

    private mutating func credit(_ agentID: String, on day: BusinessDay, amount: Int64, configuration: LedgerConfiguration) {
        var row = budget(for: agentID, on: day, configuration: configuration)
        row.spent -= amount
        row.reversals += 1
        precondition(row.spent >= 0, "a reversal never credits more than was charged")
        budgets[BudgetKey(agentID: agentID, day: day)] = row
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
