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

/// One person's allowance use on one business day (docs/EVENTS.md,
/// "Budgets"): the `budget_days` projection row. Once the day is over it
/// never changes: a reversal recorded later is a negative entry of its own
/// day (``lateReversals``), not a change to this one.
public struct BudgetDay: Sendable, Equatable {
    public var allowance: Int64
    /// Charged this day, net of reversals recorded the same day.
    public var spent: Int64
    public var compensations: Int
    /// Reversals recorded this day of compensations charged this day: each
    /// gave its room back.
    public var reversals: Int
    /// Reversals recorded this day of compensations charged on earlier days:
    /// how many, and their amount. They give no room back (that day is closed).
    public var lateReversals: Int
    public var lateReversed: Int64

    public init(
        allowance: Int64, spent: Int64 = 0, compensations: Int = 0, reversals: Int = 0, lateReversals: Int = 0, lateReversed: Int64 = 0
    ) {
        self.allowance = allowance
        self.spent = spent
        self.compensations = compensations
        self.reversals = reversals
        self.lateReversals = lateReversals
        self.lateReversed = lateReversed
    }

    /// What can still be charged today; never negative (an allowance lowered
    /// below what was already spent leaves nothing, and takes nothing back).
    public var remaining: Int64 { max(0, allowance - spent) }
}

/// A person's allowance and role from a business day on: the `allowances`
/// projection row, one per `allowance` event and day.
public struct AllowanceSetting: Sendable, Equatable {
    /// The day it applies from (``BusinessDay/opening`` for the ledger's
    /// opening settings, which hold from its first position).
    public var since: BusinessDay
    /// Nil: the default allowance of ``role`` in force on each day.
    public var dailyLimit: Int64?
    public var role: StaffRole

    public init(since: BusinessDay, dailyLimit: Int64?, role: StaffRole) {
        self.since = since
        self.dailyLimit = dailyLimit
        self.role = role
    }
}

/// One customer's business day: what compensation to them, across every
/// agent, is capped by (`customer_daily_cap`, docs/EVENTS.md).
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
