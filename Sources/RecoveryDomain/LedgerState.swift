/// The state the deciders work on: cases, budget days and allowance settings,
/// and the position of the last event folded in.
///
/// In the daemon this is a *working set*: what is absent is read as "does not
/// exist", so whoever decides must first load what ``Ledger/requirements(of:recordedAt:configuration:)``
/// names from the projection tables. Settled data (closed cases, past days) can
/// be dropped with ``evictSettled(before:)`` to keep memory bounded.
public struct LedgerState: Sendable, Equatable {
    public var lastPosition: Int64
    public var cases: [String: CaseState]
    public var budgets: [BudgetKey: BudgetDay]
    /// Each person's allowance settings, oldest first.
    public var allowances: [String: [AllowanceSetting]]
    /// Per customer, the recorded days of their complaints within the repeat
    /// window: what tells a first failure from a repeat. A fold from the start
    /// has every customer; the daemon loads a customer's when a complaint
    /// names them.
    public var customerComplaints: [String: [BusinessDay]] = [:]
    /// Compensation per customer and day, net of reversals (the cap's rows).
    public var customerDays: [CustomerDayKey: Int64] = [:]

    public init(
        lastPosition: Int64 = 0, cases: [String: CaseState] = [:], budgets: [BudgetKey: BudgetDay] = [:],
        allowances: [String: [AllowanceSetting]] = [:]
    ) {
        self.lastPosition = lastPosition
        self.cases = cases
        self.budgets = budgets
        self.allowances = allowances
    }

    /// Equal rows; ``customerComplaints`` is an index of what the cases hold
    /// (their `prior_cases` are compared), loaded in part, so it is left out.
    public static func == (lhs: LedgerState, rhs: LedgerState) -> Bool {
        lhs.lastPosition == rhs.lastPosition && lhs.cases == rhs.cases && lhs.budgets == rhs.budgets && lhs.allowances == rhs.allowances
            && lhs.customerDays == rhs.customerDays
    }

    /// In-place ``Ledger/evolve(_:with:configuration:)``.
    public mutating func apply(_ recorded: RecordedEvent, configuration: LedgerConfiguration) {
        fold(recorded, configuration: configuration)
    }

    /// Folds a committed batch's changes in: O(rows the batch touched).
    public mutating func apply(_ delta: LedgerDelta) {
        precondition(delta.basePosition == lastPosition, "a delta is applied to the state it was decided on")
        lastPosition = delta.lastPosition
        cases.merge(delta.cases) { _, new in new }
        budgets.merge(delta.budgets) { _, new in new }
        allowances.merge(delta.allowances) { _, new in new }
        customerComplaints.merge(delta.customerComplaints) { _, new in new }
        customerDays.merge(delta.customerDays) { _, new in new }
    }

    /// Drops what deciding no longer needs in memory — cases that are not open,
    /// budget days before `day`, customers' complaint days — all of which the
    /// projection tables hold.
    public mutating func evictSettled(before day: BusinessDay) {
        cases = cases.filter { $0.value.status == .open }
        budgets = budgets.filter { $0.key.day >= day }
        customerComplaints = [:]
        customerDays = customerDays.filter { $0.key.day >= day }
    }
}
