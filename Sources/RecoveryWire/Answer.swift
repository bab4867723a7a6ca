import Foundation

/// One answer line, split into its parts.
public enum Answer: Sendable, Equatable {
    /// `OK` with its JSON text (empty for a bare `OK`).
    case ok(String)
    case error(code: String, message: String)
    /// An `EVENT` line's payload, byte for byte.
    case event(String)

    public init(_ line: String) throws {
        if line == "OK" {
            self = .ok("")
        } else if line.hasPrefix("OK ") {
            self = .ok(String(line.dropFirst(3)))
        } else if line.hasPrefix("EVENT ") {
            self = .event(String(line.dropFirst(6)))
        } else if line.hasPrefix("ERR ") {
            let rest = line.dropFirst(4)
            let code = rest.prefix { $0 != " " }
            self = .error(code: String(code), message: String(rest.dropFirst(code.count).drop { $0 == " " }))
        } else {
            throw ClientError("not an answer line: \(line.prefix(80))")
        }
    }

    /// The JSON object of an `OK {…}` answer.
    public var object: [String: Any]? {
        guard case .ok(let json) = self, !json.isEmpty else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
    }
}

/// A client-side failure (connection, timeout, malformed answer).
public struct ClientError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
