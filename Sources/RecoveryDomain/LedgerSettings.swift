import Foundation

/// A setting of the ledger that changes a decision or a figure: each is
/// recorded by a `ledger_setting` event (docs/EVENTS.md, "Settings"), never
/// taken from a flag.
public enum SettingName: String, Sendable, CaseIterable, Comparable {
    case defaultAllowance = "default_allowance"
    case supervisorAllowance = "supervisor_allowance"
    case customerDailyCap = "customer_daily_cap"
    case warnBelowPercent = "warn_below_percent"
    case followUpWithinDays = "follow_up_within_days"
    case repeatWindowDays = "repeat_window_days"
    case currency
    case timeZone = "time_zone"

    /// Fixed when the ledger is created: sums and business days across a
    /// change would mean nothing.
    public var isFixed: Bool { self == .currency || self == .timeZone }

    public static func < (lhs: SettingName, rhs: SettingName) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A setting's value as recorded: an integer, a text, or none (only a
/// customer daily cap can be none: no cap).
public enum SettingValue: Sendable, Hashable, CustomStringConvertible {
    case integer(Int64)
    case text(String)
    case none

    public var description: String {
        switch self {
        case .integer(let number): String(number)
        case .text(let text): text
        case .none: "none"
        }
    }

    /// A value of `setting` as a person types it (a command-line flag,
    /// `recoveryctl settings set`): an integer, a text for the currency and
    /// time zone, `none` for no customer cap. Nil when it is none of these;
    /// ``LedgerSettings/check(_:_:)`` still judges the range.
    public init?(setting: SettingName, text: String) {
        switch setting {
        case .currency, .timeZone: self = .text(text)
        case .customerDailyCap where ["none", "null"].contains(text.lowercased()): self = .none
        default:
            guard let number = Int64(text) else { return nil }
            self = .integer(number)
        }
    }
}

/// The settings in force on one business day.
public struct LedgerSettings: Sendable, Equatable {
    public var currency: String
    public var timeZone: TimeZone
    /// Daily allowance of an agent with no limit of their own (minor units).
    public var defaultAllowance: Int64
    /// Daily allowance of a supervisor with no limit of their own.
    public var supervisorAllowance: Int64
    /// The most compensation (minor units, net of same-day reversals) one
    /// customer may receive on a business day across all agents; nil: no cap.
    public var customerDailyCap: Int64?
    /// A recorded compensation's answer warns when what is left to the person
    /// charged falls below this share of their allowance.
    public var warnBelowPercent: Int
    /// Business days (every calendar day counts: recovery does not stop for
    /// weekends) from the first compensation, or the complaint, to the end of
    /// the day the first follow-up is due.
    public var followUpWithinDays: Int
    /// A complaint is a repeat when the same customer had a case whose
    /// complaint was recorded this many days before it, or fewer.
    public var repeatWindowDays: Int

    /// What a ledger whose log sets nothing runs with (docs/EVENTS.md).
    public static let builtIn = LedgerSettings(
        currency: "USD", timeZone: TimeZone(identifier: "UTC")!, defaultAllowance: 200_000, supervisorAllowance: 1_000_000,
        customerDailyCap: nil, warnBelowPercent: 20, followUpWithinDays: 2, repeatWindowDays: 365)

    public init(
        currency: String, timeZone: TimeZone, defaultAllowance: Int64, supervisorAllowance: Int64, customerDailyCap: Int64?,
        warnBelowPercent: Int, followUpWithinDays: Int, repeatWindowDays: Int
    ) {
        self.currency = currency
        self.timeZone = timeZone
        self.defaultAllowance = defaultAllowance
        self.supervisorAllowance = supervisorAllowance
        self.customerDailyCap = customerDailyCap
        self.warnBelowPercent = warnBelowPercent
        self.followUpWithinDays = followUpWithinDays
        self.repeatWindowDays = repeatWindowDays
    }

    public func businessDay(of timestamp: Timestamp) -> BusinessDay { BusinessDay(timestamp, in: timeZone) }

    /// The end of the day a case's first follow-up is due, counted from `day`.
    public func followUpDue(from day: BusinessDay) -> Timestamp {
        day.adding(days: Int64(followUpWithinDays)).end(in: timeZone)
    }

    /// The daily allowance of a person of `role` with no limit of their own.
    public func defaultAllowance(for role: StaffRole) -> Int64 {
        role == .supervisor ? supervisorAllowance : defaultAllowance
    }

    public func value(of name: SettingName) -> SettingValue {
        switch name {
        case .defaultAllowance: .integer(defaultAllowance)
        case .supervisorAllowance: .integer(supervisorAllowance)
        case .customerDailyCap: customerDailyCap.map(SettingValue.integer) ?? .none
        case .warnBelowPercent: .integer(Int64(warnBelowPercent))
        case .followUpWithinDays: .integer(Int64(followUpWithinDays))
        case .repeatWindowDays: .integer(Int64(repeatWindowDays))
        case .currency: .text(currency)
        case .timeZone: .text(timeZone.identifier)
        }
    }

    /// Sets a value that ``check(_:_:)`` accepted.
    public mutating func set(_ name: SettingName, _ value: SettingValue) {
        switch (name, value) {
        case (.defaultAllowance, .integer(let number)): defaultAllowance = number
        case (.supervisorAllowance, .integer(let number)): supervisorAllowance = number
        case (.customerDailyCap, .integer(let number)): customerDailyCap = number
        case (.customerDailyCap, .none): customerDailyCap = nil
        case (.warnBelowPercent, .integer(let number)): warnBelowPercent = Int(number)
        case (.followUpWithinDays, .integer(let number)): followUpWithinDays = Int(number)
        case (.repeatWindowDays, .integer(let number)): repeatWindowDays = Int(number)
        case (.currency, .text(let code)): currency = code
        case (.timeZone, .text(let identifier)):
            if let zone = TimeZone(identifier: identifier) { timeZone = zone }
        default: preconditionFailure("\(name) = \(value) was not checked")
        }
    }

    /// The range each integer setting takes (docs/EVENTS.md).
    public static func range(of name: SettingName) -> ClosedRange<Int64>? {
        switch name {
        case .defaultAllowance, .supervisorAllowance, .customerDailyCap: 0...Money.maximumAmount
        case .warnBelowPercent: 0...100
        case .followUpWithinDays: 0...365
        case .repeatWindowDays: 0...36_500
        case .currency, .timeZone: nil
        }
    }

    /// Checks that `value` is one `name` can take; the refusal says what it takes.
    public static func check(_ name: SettingName, _ value: SettingValue) throws(Rejection) {
        switch (name, value) {
        case (.currency, .text(let code)):
            guard Money.isCurrencyCode(code) else { throw .invalid("value of currency must be an ISO 4217 code such as USD") }
        case (.timeZone, .text(let identifier)):
            guard !identifier.isEmpty, identifier.utf8.count <= 64, TimeZone(identifier: identifier) != nil else {
                throw .invalid("value of time_zone must be an IANA time zone such as America/New_York")
            }
        case (.customerDailyCap, .none):
            return
        case (_, .integer(let number)):
            guard let range = range(of: name) else { throw .invalid("value of \(name.rawValue) must be a string") }
            guard range.contains(number) else {
                throw .invalid("value of \(name.rawValue) must be from \(range.lowerBound) to \(range.upperBound), not \(number)")
            }
        default:
            let expected = range(of: name) == nil ? "a string" : name == .customerDailyCap ? "an integer or null (no cap)" : "an integer"
            throw .invalid("value of \(name.rawValue) must be \(expected)")
        }
    }
}

/// One recorded setting: from its event, what it set and from which day.
public struct SettingChange: Sendable, Equatable {
    public var name: SettingName
    public var value: SettingValue
    /// The business day it applies from: the day it was recorded on, or
    /// ``BusinessDay/opening`` for the ledger's opening settings.
    public var since: BusinessDay
    /// The position of the `ledger_setting` event.
    public var position: Int64

    public init(name: SettingName, value: SettingValue, since: BusinessDay, position: Int64) {
        self.name = name
        self.value = value
        self.since = since
        self.position = position
    }
}

/// Every setting the log has recorded, and so the settings in force on any
/// day or at any position. Small (a few events in a ledger's life); held in
/// the deciders' state and written to the `setting_changes` table.
public struct SettingsHistory: Sendable, Equatable {
    /// In position order. Opening settings (since ``BusinessDay/opening``)
    /// hold from the ledger's first position, whatever theirs.
    public private(set) var changes: [SettingChange] = []
    /// The settings in force from the latest change's day on.
    public private(set) var latest: LedgerSettings = .builtIn
    /// When the ledger's opening settings were recorded, once a fold has met
    /// them: the `allowance` events of that same batch are opening ones too.
    /// Not a setting (the tables do not keep it), so not compared.
    public var openingRecordedAt: Timestamp?

    public init() {}

    public static func == (lhs: SettingsHistory, rhs: SettingsHistory) -> Bool { lhs.changes == rhs.changes }

    public init(changes: [SettingChange]) {
        for change in changes.sorted(by: { $0.position < $1.position }) { record(change) }
    }

    /// The ledger's currency and time zone: fixed, so the same on every day.
    public var currency: String { latest.currency }
    public var timeZone: TimeZone { latest.timeZone }
    public func businessDay(of timestamp: Timestamp) -> BusinessDay { latest.businessDay(of: timestamp) }

    /// Whether the ledger's opening settings are recorded.
    public var isOpened: Bool { changes.contains { $0.since == .opening } }

    /// Records a change; recording the same one again (a replay seeded with
    /// the opening settings meets them once more) changes nothing.
    public mutating func record(_ change: SettingChange) {
        guard !changes.contains(change) else { return }
        precondition(changes.last.map { $0.position < change.position } ?? true, "settings are recorded in position order")
        changes.append(change)
        latest.set(change.name, change.value)
    }

    /// The settings in force on `day`: each one's latest change on or before it.
    public func settings(on day: BusinessDay) -> LedgerSettings {
        // Changes come in day order (recorded_at never goes back), so today's
        // question, the common one, is answered by `latest`.
        guard let last = changes.last, day < last.since else { return latest }
        var settings = LedgerSettings.builtIn
        for change in changes where change.since <= day { settings.set(change.name, change.value) }
        return settings
    }

    /// The settings as recorded through `position` (the opening ones always),
    /// and the position that set each (nil: built in).
    public func settings(through position: Int64) -> (settings: LedgerSettings, positions: [SettingName: Int64]) {
        var settings = LedgerSettings.builtIn
        var positions: [SettingName: Int64] = [:]
        for change in changes where change.position <= position || change.since == .opening {
            settings.set(change.name, change.value)
            positions[change.name] = change.position
        }
        return (settings, positions)
    }

    /// The changes recorded after `position`: what a batch added.
    public func changes(after position: Int64) -> [SettingChange] { changes.filter { $0.position > position } }
}

extension BusinessDay {
    /// The day opening settings apply from: before every day a ledger can
    /// have (0001-01-01), so they hold from its first position.
    public static let opening = BusinessDay(year: 1, month: 1, day: 1)!
}
