/// Validation of the ledger's identifiers (docs/EVENTS.md, "Fields of every event").
public enum Identifier {
    /// Longest `case_id`, `agent_id` or `customer_id` accepted.
    public static let maximumLength = 64

    /// True when `text` is 1–64 characters of `[A-Za-z0-9._:@-]`.
    public static func isValid(_ text: String) -> Bool {
        var text = text
        return text.withUTF8(isValid)
    }

    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard (1...maximumLength).contains(bytes.count) else { return false }
        return bytes.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }
}

/// A UUID as the client wrote it, checked for the 8-4-4-4-12 hex form and kept
/// in lowercase (the form recorded and compared for idempotency).
public struct EventID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let text: String

    public init?(_ raw: String) {
        var raw = raw
        guard let uppercase = raw.withUTF8(Self.uppercaseDigits) else { return nil }
        text = uppercase ? raw.lowercased() : raw
    }

    /// Nil unless `bytes` are a UUID in the 8-4-4-4-12 hex form; else whether
    /// any of its digits is an uppercase letter.
    private static func uppercaseDigits(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard bytes.count == 36 else { return nil }
        var uppercase = false
        for (offset, byte) in bytes.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
            } else if (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) {
                uppercase = true
            } else {
                guard byte.isHexDigit else { return nil }
            }
        }
        return uppercase
    }

    public var description: String { text }
    public static func < (lhs: EventID, rhs: EventID) -> Bool { lhs.text < rhs.text }
}

extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
            || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
