/// The state the deciders work on: cases, budget days, allowance settings,
/// the ledger's settings, and the position of the last event folded in.
///
/// A fold from the first position holds everything. In the daemon this is a
/// *working set*: what is absent may still be in the projection tables, so
/// the writer decides through ``Ledger/decide(batch:lookups:state:pending:at:outside:)``,
/// which names the rows it needs rather than reading an absent one as "does
/// not exist". Settled data (closed cases, past days) can be dropped with
/// ``evictSettled(before:)`` to keep memory bounded.
public struct LedgerState: Sendable, Equatable {
    public var lastPosition: Int64
    public var cases: [String: CaseState]
    public var budgets: [BudgetKey: BudgetDay]
    /// Each person's allowance settings, oldest first.
    public var allowances: [String: [AllowanceSetting]]
    /// Per customer, the recorded days of their complaints: what tells a
    /// first failure from a repeat. A fold from the start has every customer;
    /// the daemon loads a customer's when a complaint names them.
    public var customerComplaints: [String: [BusinessDay]] = [:]
    /// Compensation per customer and day, net of same-day reversals (the cap's rows).
    public var customerDays: [CustomerDayKey: Int64] = [:]
    /// The ledger's settings, folded from its `ledger_setting` events.
    public var settingsHistory = SettingsHistory()

    public init(
        lastPosition: Int64 = 0, cases: [String: CaseState] = [:], budgets: [BudgetKey: BudgetDay] = [:],
        allowances: [String: [AllowanceSetting]] = [:], settingsHistory: SettingsHistory = SettingsHistory()
    ) {
        self.lastPosition = lastPosition
        self.cases = cases
        self.budgets = budgets
        self.allowances = allowances
        self.settingsHistory = settingsHistory
    }

    /// The state before the first position of a ledger whose opening
    /// settings (``Ledger/opening(_:)``) are `opening`: they hold from its
    /// first position on, so a replay from there needs them first. Folding
    /// them again when the replay reaches them changes nothing.
    public init(opening: some Sequence<RecordedEvent>) {
        self.init()
        for recorded in opening {
            lastPosition = recorded.position - 1
            fold(recorded)
        }
        lastPosition = 0
    }

    /// Equal rows; ``customerComplaints`` is an index of what the cases hold
    /// (their `prior_cases` are compared), loaded in part, so it is left out.
    public static func == (lhs: LedgerState, rhs: LedgerState) -> Bool {
        lhs.lastPosition == rhs.lastPosition && lhs.cases == rhs.cases && lhs.budgets == rhs.budgets && lhs.allowances == rhs.allowances
            && lhs.customerDays == rhs.customerDays && lhs.settingsHistory == rhs.settingsHistory
    }

    /// In-place ``Ledger/evolve(_:with:)``.
    public mutating func apply(_ recorded: RecordedEvent) {
        fold(recorded)
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
        if let settings = delta.settingsHistory { settingsHistory = settings }
    }

    /// About how many bytes the working set holds: its rows counted at the
    /// sizes of typical rows (measured with `recovery-bench soak`; docs/STORE.md,
    /// "The writer's working set"). An estimate to keep memory near a budget,
    /// not an exact figure.
    public var estimatedBytes: Int {
        cases.count * Self.bytesPerCase + customerComplaints.count * Self.bytesPerCustomer
            + customerDays.count * Self.bytesPerCustomerDay + budgets.count * Self.bytesPerBudgetDay
    }

    /// The writer's budget for its working set unless told otherwise (`--state-cache-mib`).
    public static let defaultCacheBytes = 256 << 20

    // Calibrated by `recovery-bench soak` with no budget: 2.02M events (about
    // 450,000 cases, each of a new customer) grew the daemon by 590 MB.
    public static let bytesPerCase = 1_024
    public static let bytesPerCustomer = 192
    public static let bytesPerCustomerDay = 128
    public static let bytesPerBudgetDay = 256

    /// Drops rows the projection tables give back on demand until the
    /// estimate is at most `bytes`: cases that are not open, then customers'
    /// complaint days, then open cases, those touched longest ago first.
    /// Budget days and customer days stay (today's are read from here by
    /// decisions and `BUDGET`; past ones go at the day's end). Deciding then
    /// names what it needs again (``Ledger/requirements(of:lookups:state:pending:outside:)``):
    /// a dropped row costs a look-up, never another answer. Returns how many
    /// cases were dropped.
    @discardableResult
    public mutating func evict(downTo bytes: Int) -> Int {
        guard estimatedBytes > bytes else { return 0 }
        let before = cases.count
        cases = cases.filter { $0.value.status == .open }
        if estimatedBytes > bytes { customerComplaints = [:] }
        if estimatedBytes > bytes {
            let excess = estimatedBytes - bytes
            let drop = min(cases.count, (excess + Self.bytesPerCase - 1) / Self.bytesPerCase)
            for (caseID, _) in cases.sorted(by: { $0.value.lastPosition < $1.value.lastPosition }).prefix(drop) {
                cases.removeValue(forKey: caseID)
            }
        }
        return before - cases.count
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
