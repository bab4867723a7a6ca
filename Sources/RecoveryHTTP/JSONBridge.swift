import OpenAPIRuntime
import RecoveryDomain

/// The server's JSON values as the generated code's free-form containers
/// (the answers of the read operations). A fraction keeps its value (as a
/// Double; `0.500` is written back `0.5`); money is never one.
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
}
