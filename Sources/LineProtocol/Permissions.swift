import RecoveryDomain
import RecoveryWire

/// A set of roles as bits: checked on every request, so it allocates nothing.
public struct Roles: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let frontline = Roles(rawValue: 1)
    public static let auditor = Roles(rawValue: 2)
    public static let finance = Roles(rawValue: 4)
    public static let admin = Roles(rawValue: 8)
    public static let everyone: Roles = [.frontline, .auditor, .finance, .admin]

    public init(_ role: ClientRole) {
        switch role {
        case .frontline: self = .frontline
        case .auditor: self = .auditor
        case .finance: self = .finance
        case .admin: self = .admin
        }
    }

    public func contains(_ role: ClientRole) -> Bool { contains(Roles(role)) }
}

/// Who may do what (docs/PROTOCOL.md, "Roles"), in one place. Both switches are exhaustive:
/// a new verb or event type that no role is assigned to does not compile.
public enum Permissions {
    /// The roles that may send `request`. HELLO, PING, QUIT and UNSUBSCRIBE are
    /// open to every connection, before HELLO too.
    public static func roles(for request: Request) -> Roles {
        switch request {
        case .hello, .ping, .quit, .unsubscribe: .everyone
        case .append: [.frontline, .admin]
        case .caseQuery: [.frontline, .auditor, .finance, .admin]
        case .budget: [.frontline, .finance, .admin]
        case .budgets: [.finance, .admin]
        case .outcomes: [.auditor, .finance, .admin]
        case .replay, .subscribe, .verify: [.auditor, .admin]
        case .head: .everyone
        case .cases: [.frontline, .auditor, .finance, .admin]
        case .people: [.finance, .admin]
        case .due: [.frontline, .finance, .admin]
        case .status: .everyone
        case .spending: [.finance, .admin]
        case .settings: .everyone
        }
    }

    /// The roles that may record an event of `type` (on top of `APPEND` itself).
    public static func roles(for type: EventType) -> Roles {
        switch type {
        case .allowance, .ledgerSetting: [.admin]
        case .complaint, .apology, .compensation, .compensationReversal, .escalation, .followUp, .defection:
            [.frontline, .admin]
        }
    }

    /// Nil when `role` may send `request`, else the refusal.
    public static func check(_ request: Request, by role: ClientRole) -> ProtocolError? {
        roles(for: request).contains(role) ? nil : ProtocolError(.forbidden, "the \(role.rawValue) role may not \(request.verb)")
    }

    /// Nil when `role` may record an event of `type`, else the refusal.
    public static func check(_ type: EventType, by role: ClientRole) -> ProtocolError? {
        guard !roles(for: type).contains(role) else { return nil }
        return ProtocolError(
            .forbidden,
            type == .allowance ? "only an admin may set allowances"
                : type == .ledgerSetting ? "only an admin may change the ledger's settings" : "the \(role.rawValue) role may not record \(type.rawValue) events")
    }

    /// Nil when a token bound to `agent` may record `event`, else the refusal.
    /// A bound token records only its own person's events and names no one
    /// else as approver: a supervisor approves by recording the compensation
    /// with their own token (docs/OPERATIONS.md, "Who may act as whom").
    public static func check(_ event: Event, boundTo agent: String) -> ProtocolError? {
        if event.agentID != agent {
            return ProtocolError(.forbidden, "this token is bound to agent_id \(agent) and may not record events as \(event.agentID)")
        }
        if event.type == .compensation, let approver = event.approvedBy, approver != agent {
            return ProtocolError(
                .forbidden,
                "this token is bound to agent_id \(agent) and may not name \(approver) in approved_by; the approver records the compensation with their own token"
            )
        }
        return nil
    }
}
