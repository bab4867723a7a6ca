import RecoveryDomain

/// The fixed list of `ERR` codes (docs/PROTOCOL.md, "Error codes").
public enum ErrorCode: String, Sendable, CaseIterable {
    case badRequest = "bad_request"
    case unknownCommand = "unknown_command"
    case authRequired = "auth_required"
    case forbidden
    case invalid
    case notFound = "not_found"
    case conflict
    case budgetExceeded = "budget_exceeded"
    case caseClosed = "case_closed"
    case tooLarge = "too_large"
    case unavailable
    case internalError = "internal"
    case chainBroken = "chain_broken"
    case slowConsumer = "slow_consumer"
    case timeout
    /// A standby or follower: `APPEND` goes to the writer (named if known).
    case readOnly = "read_only"

    /// The wire code of a domain refusal (the domain's codes are a subset).
    public init(_ code: Rejection.Code) {
        self = ErrorCode(rawValue: code.rawValue)!
    }
}

/// A refusal at the protocol level: its code and a message for people.
public struct ProtocolError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public init(_ rejection: Rejection) {
        self.init(ErrorCode(rejection.code), rejection.message)
    }
}
