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
        if let occurred = event.occurredInstant, occurred.microseconds > recordedAt.microseconds + Self.occurredAtLead {
            throw .invalid("occurred_at \(event.occurredAt?.text ?? "") is more than 24 h after the time it is recorded (\(recordedAt))")
        }
        if event.agentID == daemonAgentID && authority != .daemon {
            throw .invalid("agent_id \(daemonAgentID) is reserved for the daemon's own events")
        }
        switch event.type {
        case .allowance:
            return
        case .ledgerSetting:
            guard case .ledgerSetting(let setting) = event.body else { return }
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
            if event.type == .complaint { return }
            throw Rejection(.notFound, "no case \(caseID); a case is opened by a complaint")
        }
        switch event.type {
        case .complaint:
            throw Rejection(.conflict, "case \(caseID) was opened already (last event at position \(current.lastPosition))")
        case .apology:
            try requireOpen(current)
            try requireAfterComplaint(event, current, recordedAt)
        case .escalation:
            try requireOpen(current)
            try requireOwner(current, authority, state: state, on: day, doing: "escalate")
        case .compensation:
            try requireOpen(current)
            let amount = event.amount ?? 0
            try checkCharge(amount, approvedBy: event.approvedBy, by: event.agentID, on: day, state: state, settings: settings)
            if let cap = settings.customerDailyCap, !event.hasOverrideReason {
                let spent = state.customerSpent(CustomerDayKey(customerID: current.customerID, day: day)) ?? 0
                guard spent + amount <= cap else {
                    let left = Money(minorUnits: max(0, cap - spent), currency: settings.currency)
                    let asked = Money(minorUnits: amount, currency: settings.currency)
                    throw Rejection(
                        .budgetExceeded,
                        "customer \(current.customerID) has \(left) left of the daily cap on \(day), \(asked) asked; a supervisor may approve it over the cap (approved_by and override_reason)"
                    )
                }
            }
        case .compensationReversal:
            guard let reverses = event.reverses else { return }
            guard let entry = current.compensations[reverses] else {
                throw Rejection(.notFound, "no compensation \(reverses) in case \(caseID)")
            }
            guard !entry.reversed else {
                throw Rejection(.conflict, "compensation \(reverses) was reversed already")
            }
            if case .person(let person) = authority, state.role(of: person, on: day) != .supervisor,
                entry.recordedBy != person && entry.chargedTo != person
            {
                throw Rejection(
                    .forbidden,
                    "\(person) may reverse only compensations it recorded or that were charged to it; \(reverses) was recorded by \(entry.recordedBy) and charged to \(entry.chargedTo): a supervisor's token may reverse it"
                )
            }
        case .followUp, .defection:
            guard current.status != .defected else {
                throw Rejection(.caseClosed, "the customer of case \(caseID) defected; the case is final")
            }
            try requireOwner(current, authority, state: state, on: day, doing: event.type == .followUp ? "follow up" : "record a defection")
            if event.type == .followUp { try requireAfterComplaint(event, current, recordedAt) }
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
        guard let occurred = event.occurredInstant, occurred < current.openedAt else { return }
        throw .invalid(
            "occurred_at \(event.occurredAt?.text ?? "") is before the complaint of case \(current.caseID) (\(current.openedAt)); \(event.type == .apology ? "an apology" : "a follow-up") cannot come before it"
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
        _ amount: Int64, approvedBy: String?, by agentID: String, on day: BusinessDay, state: some LedgerRows, settings: LedgerSettings
    ) throws(Rejection) {
        let payer = approvedBy ?? agentID
        if let approver = approvedBy, state.role(of: approver, on: day) != .supervisor {
            throw Rejection(.forbidden, "approved_by \(approver) is not a supervisor")
        }
        let budget = state.budget(for: payer, on: day)
        guard amount <= budget.remaining else {
            let left = Money(minorUnits: budget.remaining, currency: settings.currency)
            let asked = Money(minorUnits: amount, currency: settings.currency)
            let advice = approvedBy == nil ? "; ask a supervisor to approve" : ""
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

/// Rows a batch reads that the working state does not hold and the log may:
/// the writer loads them (and learns which are absent) before the batch can
/// be decided. What ``Ledger/requirements(of:lookups:state:pending:outside:)``
/// returns; the one place that says what to load.
public struct StateRequirements: Sendable, Equatable {
    /// Ids a retry may have recorded already.
    public var eventIDs: Set<EventID> = []
    public var caseIDs: Set<String> = []
    /// Customers whose earlier complaints decide whether a complaint is a repeat.
    public var customers: Set<String> = []

    public init(eventIDs: Set<EventID> = [], caseIDs: Set<String> = [], customers: Set<String> = []) {
        self.eventIDs = eventIDs
        self.caseIDs = caseIDs
        self.customers = customers
    }

    public var isEmpty: Bool { eventIDs.isEmpty && caseIDs.isEmpty && customers.isEmpty }

    public mutating func formUnion(_ other: StateRequirements) {
        eventIDs.formUnion(other.eventIDs)
        caseIDs.formUnion(other.caseIDs)
        customers.formUnion(other.customers)
    }
}

/// What may lie outside a working state: ids the log or the projection
/// tables may hold although the state does not. A fold from the first
/// position holds everything (``Everything``); the writer's working set
/// answers from its membership filters.
public protocol OutsideTheState {
    func mayHold(event: EventID) -> Bool
    func mayHold(case caseID: String) -> Bool
    func mayHold(customer: String) -> Bool
}

/// A state folded from the whole log: nothing lies outside it.
public struct Everything: OutsideTheState {
    public init() {}
    public func mayHold(event: EventID) -> Bool { false }
    public func mayHold(case caseID: String) -> Bool { false }
    public func mayHold(customer: String) -> Bool { false }
}

/// What the caller has looked up for a batch: the log's records under some
/// of its ids (or what batches still committing record), and which rows were
/// looked up at all, found or not.
public struct Lookups: Sendable {
    public var existing: [EventID: ExistingEvent]
    public var done: StateRequirements

    public init(existing: [EventID: ExistingEvent] = [:], done: StateRequirements = StateRequirements()) {
        self.existing = existing
        self.done = done
    }
}

/// A batch decided, or the rows it needs first.
public enum BatchVerdict: Sendable {
    case decided(BatchDecision)
    case needs(StateRequirements)
}

extension Ledger {
    /// The rows deciding `batch` reads that are neither in the state (nor in
    /// `pending`, nor in `lookups`) nor ruled out by `outside`: empty when the
    /// batch can be decided now. A case absent from the state is absent from
    /// the ledger only when this says nothing about it.
    public static func requirements(
        of batch: [Submission], lookups: Lookups, state: LedgerState, pending: [LedgerDelta] = [], outside: some OutsideTheState
    ) -> StateRequirements {
        let view = LedgerView(base: state, pending: pending)
        var needs = StateRequirements()
        for submission in batch {
            let event = submission.event
            if lookups.existing[event.eventID] == nil, !lookups.done.eventIDs.contains(event.eventID), outside.mayHold(event: event.eventID) {
                needs.eventIDs.insert(event.eventID)
            }
            if event.type == .complaint, let customerID = event.customerID, view.complaintDays(ofCustomer: customerID) == nil,
                !lookups.done.customers.contains(customerID), outside.mayHold(customer: customerID)
            {
                needs.customers.insert(customerID)
            }
            if let caseID = event.caseID, view.caseState(caseID) == nil, !lookups.done.caseIDs.contains(caseID), outside.mayHold(case: caseID) {
                needs.caseIDs.insert(caseID)
            }
        }
        return needs
    }

    /// Decides `batch` over a working state: ``decide(batch:existing:state:pending:at:)``
    /// once ``requirements(of:lookups:state:pending:outside:)`` is empty, and
    /// those requirements otherwise (nothing is decided on a guess).
    public static func decide(
        batch: [Submission], lookups: Lookups, state: LedgerState, pending: [LedgerDelta] = [], at recordedAt: Timestamp,
        outside: some OutsideTheState
    ) -> BatchVerdict {
        let needs = requirements(of: batch, lookups: lookups, state: state, pending: pending, outside: outside)
        guard needs.isEmpty else { return .needs(needs) }
        return .decided(decide(batch: batch, existing: lookups.existing, state: state, pending: pending, at: recordedAt))
    }
}
