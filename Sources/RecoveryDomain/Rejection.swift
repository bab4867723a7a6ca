/// Why an event was not recorded: one code from the fixed list of docs/PROTOCOL.md ("Error codes") and a
/// message a person can act on.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `ERR` codes the domain can produce. Raw values are the wire codes.
    public enum Code: String, Sendable, CaseIterable {
        /// The text is not a JSON object at all.
        case badRequest = "bad_request"
        /// A field is missing, unknown, of the wrong type or out of range.
        case invalid
        /// The submitter's role may not do this, or an approver is no supervisor.
        case forbidden
        /// The case or compensation named does not exist.
        case notFound = "not_found"
        /// The case was opened already, a compensation was reversed already, or an
        /// `event_id` was recorded with other content.
        case conflict
        /// The compensation does not fit the person's allowance for the day.
        case budgetExceeded = "budget_exceeded"
        /// The case is closed (or the customer defected) and the step needs it open.
        case caseClosed = "case_closed"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue) \(message)" }

    static func invalid(_ message: String) -> Rejection { Rejection(.invalid, message) }
}
