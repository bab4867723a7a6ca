/// The event types of docs/EVENTS.md; raw values are the wire names.
public enum EventType: String, Sendable, CaseIterable {
    case complaint, apology, compensation
    case compensationReversal = "compensation_reversal"
    case escalation
    case followUp = "follow_up"
    case defection, allowance
    case ledgerSetting = "ledger_setting"

    /// Events that belong to no case: they set who may spend what.
    public var isLedgerWide: Bool { self == .allowance || self == .ledgerSetting }
}

/// Where the customer complained.
public enum Channel: String, Sendable, CaseIterable {
    case phone, email, chat
    case inPerson = "in_person"
    case social, other
}

/// What form a compensation took.
public enum CompensationKind: String, Sendable, CaseIterable {
    case refund, credit, gift, upgrade, waiver, other
}

/// A staff member's role for budgets: supervisors may approve compensations
/// charged to their own (larger) allowance.
public enum StaffRole: String, Sendable, CaseIterable {
    case agent, supervisor
}

/// The role a client connection holds (bound to its token). Only `admin` may
/// record `allowance` and `ledger_setting` events.
public enum ClientRole: String, Sendable, CaseIterable {
    case frontline, auditor, finance, admin
}

/// `complaint`: opens a case (Make time to listen).
public struct Complaint: Sendable, Equatable {
    public var customerID: String
    public var channel: Channel
    public var category: String
    public var severity: Int
    public var baseline: Int?
    public var summary: String?
    public init(customerID: String, channel: Channel, category: String, severity: Int, baseline: Int? = nil, summary: String? = nil) {
        self.customerID = customerID
        self.channel = channel
        self.category = category
        self.severity = severity
        self.baseline = baseline
        self.summary = summary
    }
}

/// `apology`: Acknowledge and apologise.
public struct Apology: Sendable, Equatable {
    public var note: String?
    public init(note: String? = nil) {
        self.note = note
    }
}

/// `compensation`: Meet the customer's needs; charged to an allowance.
public struct Compensation: Sendable, Equatable {
    public var amount: Int64
    public var currency: String
    public var kind: CompensationKind
    public var approvedBy: String?
    /// Why a supervisor's approval lifts the customer's daily cap for this
    /// compensation (it never lifts the supervisor's own allowance).
    public var overrideReason: String?
    public var note: String?
    public init(
        amount: Int64, currency: String, kind: CompensationKind, approvedBy: String? = nil, overrideReason: String? = nil,
        note: String? = nil
    ) {
        self.amount = amount
        self.currency = currency
        self.kind = kind
        self.approvedBy = approvedBy
        self.overrideReason = overrideReason
        self.note = note
    }
}

/// `compensation_reversal`: takes a compensation back. Recorded the day it was
/// charged, it gives the room back; later, it is a negative entry of the day
/// it is recorded and never changes a past day.
public struct CompensationReversal: Sendable, Equatable {
    public var reverses: EventID
    public var reason: String
    public init(reverses: EventID, reason: String) {
        self.reverses = reverses
        self.reason = reason
    }
}

/// `escalation`: hands the case to another agent.
public struct Escalation: Sendable, Equatable {
    public var toAgentID: String
    public var reason: String
    public init(toAgentID: String, reason: String) {
        self.toAgentID = toAgentID
        self.reason = reason
    }
}

/// `follow_up`: Act with follow-up; measures the customer's satisfaction now.
public struct FollowUp: Sendable, Equatable {
    public var satisfaction: Int
    /// As sent; absent means `true`.
    public var resolved: Bool?
    public var wouldRecommend: Int?
    public var note: String?

    public var isResolved: Bool { resolved ?? true }
    public init(satisfaction: Int, resolved: Bool? = nil, wouldRecommend: Int? = nil, note: String? = nil) {
        self.satisfaction = satisfaction
        self.resolved = resolved
        self.wouldRecommend = wouldRecommend
        self.note = note
    }
}

/// `defection`: the customer left.
public struct Defection: Sendable, Equatable {
    public var reason: String?
    public init(reason: String? = nil) {
        self.reason = reason
    }
}

/// `allowance`: sets a person's daily limit or role (or both) from the
/// current business day on.
public struct AllowanceChange: Sendable, Equatable {
    /// Absent: the person follows their role's default allowance.
    public var dailyLimit: Int64?
    /// Absent: the role is unchanged.
    public var role: StaffRole?
    public init(dailyLimit: Int64?, role: StaffRole? = nil) {
        self.dailyLimit = dailyLimit
        self.role = role
    }
}

/// `ledger_setting`: sets one of the ledger's settings from the current
/// business day on (docs/EVENTS.md, "Settings").
public struct LedgerSetting: Sendable, Equatable {
    public var name: SettingName
    public var value: SettingValue
    public init(name: SettingName, value: SettingValue) {
        self.name = name
        self.value = value
    }
}

/// What an event says, by type.
public enum EventBody: Sendable, Equatable {
    case complaint(Complaint)
    case apology(Apology)
    case compensation(Compensation)
    case compensationReversal(CompensationReversal)
    case escalation(Escalation)
    case followUp(FollowUp)
    case defection(Defection)
    case allowance(AllowanceChange)
    case ledgerSetting(LedgerSetting)

    public var type: EventType {
        switch self {
        case .complaint: .complaint
        case .apology: .apology
        case .compensation: .compensation
        case .compensationReversal: .compensationReversal
        case .escalation: .escalation
        case .followUp: .followUp
        case .defection: .defection
        case .allowance: .allowance
        case .ledgerSetting: .ledgerSetting
        }
    }
}

/// An enumeration whose raw values are wire names, found by their UTF-8
/// bytes without making a `String`.
protocol WireName: RawRepresentable, CaseIterable where RawValue == String {
    /// Every case with its name's bytes (a table made once per type).
    static var wireNames: [(utf8: [UInt8], value: Self)] { get }
}

extension WireName {
    static func named(_ bytes: UnsafeBufferPointer<UInt8>) -> Self? {
        for entry in wireNames where entry.utf8.count == bytes.count {
            let equal = entry.utf8.withUnsafeBufferPointer { name in
                for index in 0..<name.count where name[index] != bytes[index] { return false }
                return true
            }
            if equal { return entry.value }
        }
        return nil
    }

    static func table() -> [(utf8: [UInt8], value: Self)] { allCases.map { (Array($0.rawValue.utf8), $0) } }
}

extension EventType: WireName { static let wireNames = table() }
extension Channel: WireName { static let wireNames = table() }
extension CompensationKind: WireName { static let wireNames = table() }
extension StaffRole: WireName { static let wireNames = table() }
extension SettingName: WireName { static let wireNames = table() }
