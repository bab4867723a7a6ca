import OpenAPIRuntime
import RecoveryDomain

/// Between the server's JSON values and the generated code's free-form
/// containers. A fraction keeps its value (as a Double, which prints it back
/// the same for the three decimals answers carry); money is never one.
enum JSONBridge {
    static func container(_ object: [String: JSONValue]) -> OpenAPIValueContainer {
        // Every value made here is one the container accepts.
        (try? OpenAPIValueContainer(unvalidatedValue: sendable(.object(object)))) ?? nil
    }

    static func sendable(_ value: JSONValue) -> (any Sendable)? {
        switch value {
        case .null: nil
        case .bool(let flag): flag
        case .integer(let number): Int(number)
        case .fraction(let text): Double(text) ?? 0
        case .string(let text): text
        case .array(let items): items.map(sendable)
        case .object(let members): members.mapValues(sendable)
        }
    }

    /// A decoded body's value as the server's (integers stay integers).
    static func value(_ any: (any Sendable)?) -> JSONValue {
        switch any {
        case nil: .null
        case let flag as Bool: .bool(flag)
        case let number as Int: .integer(Int64(number))
        case let number as Double: .fraction(String(number))
        case let text as String: .string(text)
        case let items as [(any Sendable)?]: .array(items.map(value))
        case let members as [String: (any Sendable)?]: .object(members.mapValues(value))
        case let some?: .string("\(some)")
        }
    }
}
