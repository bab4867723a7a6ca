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

/// A UUID as the client wrote it, checked for the 8-4-4-4-12 hex form; kept
/// as its 128 bits (no text to allocate, a cheap hash), written back in
/// lowercase (the form recorded and compared for idempotency).
public struct EventID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The first and the last 64 of the UUID's bits: ordered as its lowercase text is.
    private let high: UInt64
    private let low: UInt64

    public init?(_ raw: String) {
        var raw = raw
        guard let id = raw.withUTF8(Self.init(utf8:)) else { return nil }
        self = id
    }

    /// Nil unless `bytes` are a UUID in the 8-4-4-4-12 hex form (either case).
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count == 36 else { return nil }
        var bits: (UInt64, UInt64) = (0, 0)
        var digits = 0
        for (offset, byte) in bytes.enumerated() {
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            if digits < 16 { bits.0 = bits.0 << 4 | UInt64(value) } else { bits.1 = bits.1 << 4 | UInt64(value) }
            digits += 1
        }
        high = bits.0
        low = bits.1
    }

    /// Calls `body` with the id's 16 bytes (what a filter hashes).
    public func withBits<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        withUnsafeBytes(of: (high, low), body)
    }

    /// The lowercase 8-4-4-4-12 text.
    public var text: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            write(into: buffer)
            return 36
        }
    }

    /// Appends the lowercase 8-4-4-4-12 text to `out`.
    public func appendText(to out: inout [UInt8]) {
        withText { out.append(contentsOf: $0) }
    }

    /// Calls `body` with the lowercase 8-4-4-4-12 text's bytes (on the stack).
    public func withText<T>(_ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 36) { buffer in
            write(into: buffer)
            return body(UnsafeBufferPointer(buffer))
        }
    }

    private static let hexDigits: StaticString = "0123456789abcdef"

    private func write(into buffer: UnsafeMutableBufferPointer<UInt8>) {
        var index = 0
        for digit in 0..<32 {
            if digit == 8 || digit == 12 || digit == 16 || digit == 20 {
                buffer[index] = UInt8(ascii: "-")
                index += 1
            }
            let word = digit < 16 ? high : low
            let nibble = Int(word >> (60 - 4 * UInt64(digit % 16)) & 0xF)
            buffer[index] = Self.hexDigits.utf8Start[nibble]
            index += 1
        }
    }

    public var description: String { text }
    public static func < (lhs: EventID, rhs: EventID) -> Bool { (lhs.high, lhs.low) < (rhs.high, rhs.low) }
}
