import Foundation

/// One ledger's settings (DESIGN.md §3): its currency, its time zone (which
/// decides business days) and the default daily allowances.
///
/// The time zone must not change once events are recorded: business days of
/// past charges are derived from `recorded_at` in this zone.
public struct LedgerConfiguration: Sendable, Equatable {
    public var currency: String
    public var timeZone: TimeZone
    /// Daily allowance of a person with no `allowance` event (minor units).
    public var defaultAllowance: Int64
    /// Daily allowance of a configured supervisor with no `allowance` event.
    public var defaultSupervisorAllowance: Int64
    /// People who are supervisors until an `allowance` event says otherwise.
    public var supervisors: Set<String>
    /// A recorded compensation's answer warns when what is left to the person
    /// charged falls below this share of their allowance (DESIGN.md §2).
    public var warnBelowPercent: Int = 20
    /// Business days (every calendar day counts: recovery does not stop for
    /// weekends) from the first compensation, or the complaint, to the end of
    /// the day the first follow-up is due.
    public var followUpWithinDays: Int = 2
    /// A complaint is a repeat when the same customer had a case whose
    /// complaint was recorded this many days before it, or fewer.
    public var repeatWindowDays: Int = 365
    /// The most compensation (minor units, net of reversals) one customer may
    /// receive on a business day across all agents; nil: no cap.
    public var customerDailyCap: Int64?

    /// The end of the day a case's first follow-up is due, counted from `day`.
    public func followUpDue(from day: BusinessDay) -> Timestamp {
        day.adding(days: Int64(followUpWithinDays)).end(in: timeZone)
    }

    public init(
        currency: String = "USD", timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        defaultAllowance: Int64 = 200_000, defaultSupervisorAllowance: Int64 = 1_000_000,
        supervisors: Set<String> = []
    ) {
        precondition(Money.isCurrencyCode(currency), "currency must be an ISO 4217 code")
        precondition(defaultAllowance >= 0 && defaultSupervisorAllowance >= 0, "allowances are never negative")
        self.currency = currency
        self.timeZone = timeZone
        self.defaultAllowance = defaultAllowance
        self.defaultSupervisorAllowance = defaultSupervisorAllowance
        self.supervisors = supervisors
    }

    public func businessDay(of timestamp: Timestamp) -> BusinessDay { BusinessDay(timestamp, in: timeZone) }
}
