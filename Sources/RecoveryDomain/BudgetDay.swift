/// Which person's allowance, on which business day.
public struct BudgetKey: Sendable, Hashable, Comparable {
    public var agentID: String
    public var day: BusinessDay

    public init(agentID: String, day: BusinessDay) {
        self.agentID = agentID
        self.day = day
    }

    public static func < (lhs: BudgetKey, rhs: BudgetKey) -> Bool {
        (lhs.day, lhs.agentID) < (rhs.day, rhs.agentID)
    }
}

/// One person's allowance use on one business day (DESIGN.md §3): the
/// `budget_days` projection row.
public struct BudgetDay: Sendable, Equatable {
    public var allowance: Int64
    /// Charged, net of reversals.
    public var spent: Int64
    public var compensations: Int
    public var reversals: Int

    public init(allowance: Int64, spent: Int64 = 0, compensations: Int = 0, reversals: Int = 0) {
        self.allowance = allowance
        self.spent = spent
        self.compensations = compensations
        self.reversals = reversals
    }

    /// What can still be charged today; never negative (an allowance lowered
    /// below what was already spent leaves nothing, and takes nothing back).
    public var remaining: Int64 { max(0, allowance - spent) }
}

/// A person's allowance and role from a business day on: the `allowances`
/// projection row, one per `allowance` event.
public struct AllowanceSetting: Sendable, Equatable {
    public var since: BusinessDay
    public var dailyLimit: Int64
    public var role: StaffRole

    public init(since: BusinessDay, dailyLimit: Int64, role: StaffRole) {
        self.since = since
        self.dailyLimit = dailyLimit
        self.role = role
    }
}

/// One customer's business day: what compensation to them, across every
/// agent, is capped by (`customer_daily_cap`, DESIGN.md §2).
public struct CustomerDayKey: Sendable, Hashable, Comparable {
    public var customerID: String
    public var day: BusinessDay

    public init(customerID: String, day: BusinessDay) {
        self.customerID = customerID
        self.day = day
    }

    public static func < (lhs: CustomerDayKey, rhs: CustomerDayKey) -> Bool {
        (lhs.day, lhs.customerID) < (rhs.day, rhs.customerID)
    }
}
