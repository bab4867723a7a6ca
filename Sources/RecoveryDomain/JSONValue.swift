/// A JSON value as recoveryd sees it: integers apart from other numbers (no
/// floats anywhere in the ledger), objects keep their keys in a dictionary so that order and spacing
/// never change what a value means.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// A number with a fraction or an exponent, kept as written. The parser
    /// accepts it so that a field can say "must be an integer"; no event field
    /// takes one.
    case fraction(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// A short name of the value's JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .fraction: "number with a fraction"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
