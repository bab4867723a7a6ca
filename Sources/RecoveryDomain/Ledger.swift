/// Who records an event, as far as the ledger's rules care (docs/EVENTS.md,
/// "Who may move money").
public enum Authority: Sendable, Equatable {
    /// An app token: a shared secret of a trusted back end, which may record
    /// events as anyone its role allows.
    case app
    /// A token bound to one person (its events' `agent_id`).
    case person(String)
    /// The daemon itself, recording the ledger's opening settings.
    case daemon
}

/// The ledger's decider (docs/ARCHITECTURE.md, "Deciders"): ``decide(_:at:state:authority:)``
/// judges one incoming event against the state, ``evolve(_:with:)`` folds a
/// recorded event into it. The live writer, a replay and a rebuild all use the
/// same ``evolve``, so they cannot disagree. Neither takes settings from
/// anywhere but the state: they are folded from the log like everything else.
public enum Ledger {
    /// How far `occurred_at` may lie after `recorded_at` (clocks disagree;
    /// time zones are easy to get wrong): 24 h, in microseconds.
    public static let occurredAtLead: Int64 = 86_400 * 1_000_000

    /// The `agent_id` of the daemon's own events: the ledger's opening
    /// settings. Reserved: no client records events under it.
    public static let daemonAgentID = "recoveryd"

    /// Decides whether `event` may be recorded at `recordedAt`. Which role may
    /// send it is not the domain's question (the protocol's `Permissions`
    /// settle that before an event reaches the writer); which person may move
    /// whose money is (`authority`). On success the result is the event as it
    /// will be recorded, at the position after `state.lastPosition`.
    public static func decide(
        _ event: Event, at recordedAt: Timestamp, state: LedgerState, authority: Authority = .app
    ) -> Result<RecordedEvent, Rejection> {
        Result { () throws(Rejection) -> RecordedEvent in
            try check(event, at: recordedAt, state: state, authority: authority)
            return RecordedEvent(position: state.lastPosition + 1, recordedAt: recordedAt, event: event)
        }
    }

    static func check(_ event: Event, at recordedAt: Timestamp, state: some LedgerRows, authority: Authority) throws(Rejection) {
        let history = state.settingsHistory
        let day = history.businessDay(of: recordedAt)
        let settings = history.settings(on: day)
        if let occurred = event.occurredAt, occurred.instant.microseconds > recordedAt.microseconds + Self.occurredAtLead {
            throw .invalid("occurred_at \(occurred.text) is more than 24 h after the time it is recorded (\(recordedAt))")
        }
        if event.agentID == daemonAgentID && authority != .daemon {
            throw .invalid("agent_id \(daemonAgentID) is reserved for the daemon's own events")
        }
        switch event.body {
        case .allowance:
            return
        case .ledgerSetting(let setting):
            // The opening batch may set them; nothing after it can.
            if setting.name.isFixed,
                authority != .daemon || (history.isOpened && history.openingRecordedAt != recordedAt)
            {
                throw Rejection(
                    .conflict,
                    "\(setting.name.rawValue) is fixed when the ledger is created (it is \(settings.value(of: setting.name))): sums and business days across a change would mean nothing"
                )
            }
            return
        default:
            break
        }
        guard let caseID = event.caseID else { throw .invalid("case_id is required") }
        guard let current = state.caseState(caseID) else {
            if case .complaint = event.body { return }
            throw Rejection(.notFound, "no case \(caseID); a case is opened by a complaint")
        }
        switch event.body {
        case .complaint:
            throw Rejection(.conflict, "case \(caseID) was opened already (last event at position \(current.lastPosition))")
        case .apology:
            try requireOpen(current)
            try requireAfterComplaint(event, current, recordedAt)
        case .escalation:
            try requireOpen(current)
            try requireOwner(current, authority, state: state, on: day, doing: "escalate")
        case .compensation(let compensation):
            try requireOpen(current)
            try checkCharge(compensation, by: event.agentID, on: day, state: state, settings: settings)
            if let cap = settings.customerDailyCap, compensation.overrideReason == nil {
                let spent = state.customerSpent(CustomerDayKey(customerID: current.customerID, day: day)) ?? 0
                guard spent + compensation.amount <= cap else {
                    let left = Money(minorUnits: max(0, cap - spent), currency: settings.currency)
                    let asked = Money(minorUnits: compensation.amount, currency: settings.currency)
                    throw Rejection(
                        .budgetExceeded,
                        "customer \(current.customerID) has \(left) left of the daily cap on \(day), \(asked) asked; a supervisor may approve it over the cap (approved_by and override_reason)"
                    )
                }
            }
        case .compensationReversal(let reversal):
            guard let entry = current.compensations[reversal.reverses] else {
                throw Rejection(.notFound, "no compensation \(reversal.reverses) in case \(caseID)")
            }
            guard !entry.reversed else {
                throw Rejection(.conflict, "compensation \(reversal.reverses) was reversed already")
            }
            if case .person(let person) = authority, state.role(of: person, on: day) != .supervisor,
                entry.recordedBy != person && entry.chargedTo != person
            {
                throw Rejection(
                    .forbidden,
                    "\(person) may reverse only compensations it recorded or that were charged to it; \(reversal.reverses) was recorded by \(entry.recordedBy) and charged to \(entry.chargedTo): a supervisor's token may reverse it"
                )
            }
        case .followUp, .defection:
            guard current.status != .defected else {
                throw Rejection(.caseClosed, "the customer of case \(caseID) defected; the case is final")
            }
            try requireOwner(current, authority, state: state, on: day, doing: event.type == .followUp ? "follow up" : "record a defection")
            if case .followUp = event.body { try requireAfterComplaint(event, current, recordedAt) }
        case .allowance, .ledgerSetting:
            preconditionFailure("ledger-wide events are decided above")
        }
    }

    /// A token bound to a person acts only on cases that person owns, unless
    /// the person is a supervisor (docs/EVENTS.md, "Who may move money").
    private static func requireOwner(
        _ current: CaseState, _ authority: Authority, state: some LedgerRows, on day: BusinessDay, doing action: String
    ) throws(Rejection) {
        guard case .person(let person) = authority, person != current.owner, state.role(of: person, on: day) != .supervisor else { return }
        throw Rejection(
            .forbidden,
            "case \(current.caseID) is owned by \(current.owner); \(person) may \(action) only on cases it owns: ask \(current.owner) or a supervisor")
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
        _ compensation: Compensation, by agentID: String, on day: BusinessDay, state: some LedgerRows, settings: LedgerSettings
    ) throws(Rejection) {
        let payer = compensation.approvedBy ?? agentID
        if let approver = compensation.approvedBy, state.role(of: approver, on: day) != .supervisor {
            throw Rejection(.forbidden, "approved_by \(approver) is not a supervisor")
        }
        let budget = state.budget(for: payer, on: day)
        guard compensation.amount <= budget.remaining else {
            let left = Money(minorUnits: budget.remaining, currency: settings.currency)
            let asked = Money(minorUnits: compensation.amount, currency: settings.currency)
            let advice = compensation.approvedBy == nil ? "; ask a supervisor to approve" : ""
            throw Rejection(.budgetExceeded, "\(payer) has \(left) left on \(day), \(asked) asked\(advice)")
        }
    }

    /// Folds a recorded event into the state. It trusts that the event was
    /// decided (or replayed from the log) and never refuses it.
    public static func evolve(_ state: LedgerState, with recorded: RecordedEvent) -> LedgerState {
        var next = state
        next.apply(recorded)
        return next
    }
}

/// What must be in the working state before an event can be decided: the
/// daemon loads these from the projection tables first.
public struct StateRequirements: Sendable, Equatable {
    public var caseIDs: Set<String> = []
    /// Customers whose earlier complaints decide whether a complaint is a repeat.
    public var customers: Set<String> = []
    public var budgetDays: Set<BudgetKey> = []
}

extension Ledger {
    /// The rows `event`, recorded on `day`, may read beyond its own case: the
    /// budget row it charges, and a complaint's customer's history. A reversal
    /// reads only today's rows: a past day is closed, and never changes.
    public static func requirements(of event: Event, on day: BusinessDay) -> StateRequirements {
        var needs = StateRequirements()
        if let caseID = event.caseID { needs.caseIDs.insert(caseID) }
        switch event.body {
        case .allowance:
            needs.budgetDays.insert(BudgetKey(agentID: event.agentID, day: day))
        case .compensation(let compensation):
            needs.budgetDays.insert(BudgetKey(agentID: compensation.approvedBy ?? event.agentID, day: day))
        case .complaint(let complaint):
            needs.customers.insert(complaint.customerID)
        default:
            break
        }
        return needs
    }
}
