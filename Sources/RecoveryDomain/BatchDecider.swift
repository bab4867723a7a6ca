/// What the log already holds under an `event_id` (or what a batch still
/// committing will hold): idempotency compares a retry with it.
public struct ExistingEvent: Sendable, Equatable {
    public var position: Int64
    public var hash: [UInt8]
    public var contentDigest: [UInt8]

    public init(position: Int64, hash: [UInt8], contentDigest: [UInt8]) {
        self.position = position
        self.hash = hash
        self.contentDigest = contentDigest
    }
}

/// One append offered to the batch decider: the decoded event, the SHA-256
/// of its canonical client fields (what a retry is compared by), those
/// canonical bytes when the caller has them (the payload is made from them),
/// and who records it.
public struct Submission: Sendable {
    public var event: Event
    public var contentDigest: [UInt8]
    public var authority: Authority

    public init(event: Event, contentDigest: [UInt8], authority: Authority = .app) {
        self.event = event
        self.contentDigest = contentDigest
        self.authority = authority
    }
}

/// Everything one batch changed: the final value of each row it touched, and
/// nothing else. ``LedgerState/apply(_:)`` folds it in after COMMIT, and the
/// writer writes exactly these projection rows.
public struct LedgerDelta: Sendable, Equatable {
    /// The position the batch was decided after, and the one it ends at.
    public let basePosition: Int64
    public internal(set) var lastPosition: Int64
    public internal(set) var cases: [String: CaseState] = [:]
    public internal(set) var budgets: [BudgetKey: BudgetDay] = [:]
    public internal(set) var allowances: [String: [AllowanceSetting]] = [:]
    /// Compensation entries added or reversed: compensation `event_id` → case.
    public internal(set) var compensations: [EventID: String] = [:]
    /// Customers who complained, with their complaint days after the batch.
    public internal(set) var customerComplaints: [String: [BusinessDay]] = [:]
    /// Customers' days whose compensation total changed, with the new total.
    public internal(set) var customerDays: [CustomerDayKey: Int64] = [:]
    /// The ledger's settings after the batch, if it recorded a setting.
    public internal(set) var settingsHistory: SettingsHistory?

    public init(after position: Int64) {
        basePosition = position
        lastPosition = position
    }

    /// The compensation entries to write, with their cases.
    public var compensationEntries: [(caseID: String, eventID: EventID, entry: CaseState.CompensationEntry)] {
        compensations.compactMap { eventID, caseID in
            cases[caseID]?.compensations[eventID].map { (caseID, eventID, $0) }
        }
    }
}

/// A state as seen by a batch being decided: the committed ``LedgerState``,
/// the deltas of batches decided but not yet committed (oldest first), and this
/// batch's own changes. Reads look from the newest layer down; writes go to
/// this batch's delta only, so the state itself is never copied or touched.
public struct LedgerView: LedgerRows {
    public let base: LedgerState
    public let pending: [LedgerDelta]
    public private(set) var delta: LedgerDelta

    public init(base: LedgerState, pending: [LedgerDelta] = []) {
        precondition(
            zip([base.lastPosition] + pending.map(\.lastPosition), pending.map(\.basePosition)).allSatisfy { $0 == $1 },
            "pending deltas continue the state and each other")
        self.base = base
        self.pending = pending
        self.delta = LedgerDelta(after: pending.last?.lastPosition ?? base.lastPosition)
    }

    public var lastPosition: Int64 {
        get { delta.lastPosition }
        set { delta.lastPosition = newValue }
    }

    private func newest<Value>(_ read: (LedgerDelta) -> Value?, else fallback: () -> Value?) -> Value? {
        if let value = read(delta) { return value }
        for layer in pending.reversed() {
            if let value = read(layer) { return value }
        }
        return fallback()
    }

    public func caseState(_ caseID: String) -> CaseState? {
        newest({ $0.cases[caseID] }, else: { base.cases[caseID] })
    }

    public mutating func setCase(_ state: CaseState) { delta.cases[state.caseID] = state }

    public func budgetRow(_ key: BudgetKey) -> BudgetDay? {
        newest({ $0.budgets[key] }, else: { base.budgets[key] })
    }

    public func budgetPeople(on day: BusinessDay) -> Set<String> {
        var people = base.budgetPeople(on: day)
        for layer in pending + [delta] {
            for key in layer.budgets.keys where key.day == day { people.insert(key.agentID) }
        }
        return people
    }

    public var settingsHistory: SettingsHistory {
        newest({ $0.settingsHistory }, else: { base.settingsHistory })!
    }

    public mutating func setSettingsHistory(_ history: SettingsHistory) { delta.settingsHistory = history }

    public mutating func setBudgetRow(_ row: BudgetDay, for key: BudgetKey) { delta.budgets[key] = row }

    public func settings(of agentID: String) -> [AllowanceSetting]? {
        newest({ $0.allowances[agentID] }, else: { base.allowances[agentID] })
    }

    public mutating func setSettings(_ settings: [AllowanceSetting], of agentID: String) {
        delta.allowances[agentID] = settings
    }

    public mutating func noteCompensation(_ eventID: EventID, of caseID: String) {
        delta.compensations[eventID] = caseID
    }

    public func complaintDays(ofCustomer customerID: String) -> [BusinessDay]? {
        newest({ $0.customerComplaints[customerID] }, else: { base.customerComplaints[customerID] })
    }

    public mutating func setComplaintDays(_ days: [BusinessDay], ofCustomer customerID: String) {
        delta.customerComplaints[customerID] = days
    }

    public func customerSpent(_ key: CustomerDayKey) -> Int64? {
        newest({ $0.customerDays[key] }, else: { base.customerDays[key] })
    }

    public mutating func setCustomerSpent(_ spent: Int64, for key: CustomerDayKey) { delta.customerDays[key] = spent }
}

/// How the batch decider answered one submission.
public enum BatchOutcome: Sendable, Equatable {
    /// To be recorded: `records[index]`.
    case recorded(Int)
    /// The same content as `records[index]`, submitted earlier in this batch:
    /// answered with that record's receipt, as a duplicate.
    case repeated(Int)
    /// Recorded before with the same content: the original receipt.
    case duplicate(ExistingEvent)
    case refused(Rejection)
}

/// The batch decider's answer: per submission, the events to record in
/// position order, and the rows they change.
public struct BatchDecision: Sendable {
    public var outcomes: [BatchOutcome]
    public var records: [RecordedEvent]
    /// The events' content digests, one per record.
    public var digests: [[UInt8]]
    /// Per record: for a compensation, the budget of the person charged right
    /// after it (what its answer reports); nil for other events.
    public var spending: [Spending?]
    public var delta: LedgerDelta
}

/// What a recorded compensation leaves to the person charged that day.
public struct Spending: Sendable, Equatable {
    public var remaining: Int64
    public var allowance: Int64
    /// True when `remaining` is below `warn_below_percent` of the allowance.
    public var warning: Bool

    public init(_ row: BudgetDay, warnBelowPercent: Int) {
        remaining = row.remaining
        allowance = row.allowance
        warning = row.remaining * 100 < Int64(warnBelowPercent) * row.allowance
    }
}

extension Ledger {
    /// Decides a batch of appends recorded at `recordedAt` (docs/STORE.md, "Group commit"),
    /// in order, each seeing the ones before it:
    ///
    /// 1. idempotency first — an `event_id` in `existing` with the same content
    ///    digest is answered with its original receipt, with other content it
    ///    is a conflict; a repeat within the batch is answered like the first;
    /// 2. then the rules of ``decide(_:at:state:authority:)``.
    ///
    /// `existing` must hold what the log (and `pending`) records under any id
    /// of the batch that may be known. The state is not touched:
    /// `state.apply(decision.delta)` after COMMIT gives the state after the
    /// batch, and the same as folding its records in one by one.
    public static func decide(
        batch: [Submission], existing: [EventID: ExistingEvent], state: LedgerState, pending: [LedgerDelta] = [],
        at recordedAt: Timestamp
    ) -> BatchDecision {
        var view = LedgerView(base: state, pending: pending)
        var outcomes: [BatchOutcome] = []
        outcomes.reserveCapacity(batch.count)
        var records: [RecordedEvent] = []
        var digests: [[UInt8]] = []
        var spending: [Spending?] = []
        /// Each id recorded by this batch: its submission and record. A refused
        /// submission leaves no trace, exactly as if it had come alone.
        var recordedIDs: [EventID: (index: Int, record: Int)] = [:]
        for (index, submission) in batch.enumerated() {
            let id = submission.event.eventID
            if let prior = existing[id] {
                outcomes.append(
                    prior.contentDigest == submission.contentDigest
                        ? .duplicate(prior)
                        : .refused(Rejection(.conflict, "event_id \(id) was recorded at position \(prior.position) with other content")))
                continue
            }
            if let first = recordedIDs[id] {
                outcomes.append(
                    batch[first.index].contentDigest == submission.contentDigest
                        ? .repeated(first.record)
                        // Worded as if it had come alone: an answer never depends on how appends were grouped into commits.
                        : .refused(Rejection(.conflict, "event_id \(id) was recorded at position \(records[first.record].position) with other content")))
                continue
            }
            do throws(Rejection) {
                try check(submission.event, at: recordedAt, state: view, authority: submission.authority)
                let recorded = RecordedEvent(position: view.lastPosition + 1, recordedAt: recordedAt, event: submission.event)
                view.fold(recorded)
                recordedIDs[id] = (index, records.count)
                outcomes.append(.recorded(records.count))
                records.append(recorded)
                digests.append(submission.contentDigest)
                if submission.event.type == .compensation {
                    let charged = submission.event.approvedBy ?? submission.event.agentID
                    let day = view.settingsHistory.businessDay(of: recordedAt)
                    let row = view.budget(for: charged, on: day)
                    spending.append(Spending(row, warnBelowPercent: view.settingsHistory.settings(on: day).warnBelowPercent))
                } else {
                    spending.append(nil)
                }
            } catch {
                outcomes.append(.refused(error))
            }
        }
        return BatchDecision(
            outcomes: outcomes, records: records, digests: digests, spending: spending, delta: view.delta)
    }
}
