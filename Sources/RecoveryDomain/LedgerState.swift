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

    public init(
        lastPosition: Int64 = 0, cases: [String: CaseState] = [:], budgets: [BudgetKey: BudgetDay] = [:],
        allowances: [String: [AllowanceSetting]] = [:]
    ) {
        self.lastPosition = lastPosition
        self.cases = cases
        self.budgets = budgets
        self.allowances = allowances
    }

    /// The setting in force for `agentID` on `day`, if any `allowance` event applies.
    public func setting(for agentID: String, on day: BusinessDay) -> AllowanceSetting? {
        allowances[agentID]?.last { $0.since <= day }
    }

    public func role(of agentID: String, on day: BusinessDay, configuration: LedgerConfiguration) -> StaffRole {
        setting(for: agentID, on: day)?.role ?? (configuration.supervisors.contains(agentID) ? .supervisor : .agent)
    }

    /// The daily allowance of `agentID` on `day`: the row's, if the day has one,
    /// else the setting in force, else the configured default for the role.
    public func allowance(for agentID: String, on day: BusinessDay, configuration: LedgerConfiguration) -> Int64 {
        if let row = budgets[BudgetKey(agentID: agentID, day: day)] { return row.allowance }
        if let setting = setting(for: agentID, on: day) { return setting.dailyLimit }
        return configuration.supervisors.contains(agentID)
            ? configuration.defaultSupervisorAllowance : configuration.defaultAllowance
    }

    /// The budget row of `agentID` on `day`, or the empty one it would start as.
    public func budget(for agentID: String, on day: BusinessDay, configuration: LedgerConfiguration) -> BudgetDay {
        budgets[BudgetKey(agentID: agentID, day: day)]
            ?? BudgetDay(allowance: allowance(for: agentID, on: day, configuration: configuration))
    }

    /// Drops what deciding no longer needs in memory — cases that are not open
    /// and budget days before `day` — all of which the projection tables hold.
    public mutating func evictSettled(before day: BusinessDay) {
        cases = cases.filter { $0.value.status == .open }
        budgets = budgets.filter { $0.key.day >= day }
    }
}
