import RecoveryDomain

/// A one-dimensional PostgreSQL array in the binary format `array_recv`
/// reads: how a batch's column of events goes as one parameter, with no
/// quoting, escaping or hex for the server to undo. Every number is
/// big-endian: the header (dimensions 1, a has-nulls flag, the element's
/// type OID, the length and lower bound 1), then each element as its byte
/// length (−1 for NULL) and its bytes in that type's binary form.
struct PGBinaryArray {
    /// The element types the events' columns use (`pg_type.oid`).
    enum Element: UInt32 {
        case bytea = 17
        case int8 = 20
        case text = 25
        case timestamptz = 1184
        case uuid = 2950
    }

    private var bytes: [UInt8] = []
    private var count: Int32 = 0
    private var hasNull = false
    /// True once a text element held a NUL, which PostgreSQL's text refuses.
    private(set) var containsNUL = false

    init(_ element: Element, reservingBytes capacity: Int = 64) {
        bytes.reserveCapacity(20 + capacity)
        for word in [1, 0, element.rawValue, 0, 1] as [UInt32] { appendBigEndian(word) }
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func appendNull() {
        appendBigEndian(Int32(-1))
        count += 1
        hasNull = true
    }

    /// A `text` or `bytea` element: the bytes as they are.
    mutating func append(_ value: UnsafeBufferPointer<UInt8>, text: Bool) {
        if text, value.contains(0) { containsNUL = true }
        appendBigEndian(Int32(value.count))
        bytes.append(contentsOf: value)
        count += 1
    }

    mutating func append(_ value: [UInt8], text: Bool) {
        value.withUnsafeBufferPointer { append($0, text: text) }
    }

    mutating func append(_ value: String?) {
        guard var value else { return appendNull() }
        value.withUTF8 { append($0, text: true) }
    }

    mutating func append(_ value: Int64) {
        appendBigEndian(Int32(8))
        appendBigEndian(value)
        count += 1
    }

    /// A `timestamptz` element: microseconds since 2000-01-01 00:00:00 UTC.
    mutating func append(_ value: Timestamp) {
        append(value.microseconds - Self.microsecondsFrom1970To2000)
    }

    /// PostgreSQL's epoch (2000-01-01) in microseconds since 1970-01-01.
    static let microsecondsFrom1970To2000: Int64 = 946_684_800_000_000

    /// A `uuid` element: the 16 bytes the 32 hex digits of `id` spell.
    mutating func append(_ id: EventID) {
        appendBigEndian(Int32(16))
        var high: UInt8?
        for byte in id.text.utf8 where byte != UInt8(ascii: "-") {
            let nibble = byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : (byte | 0x20) - UInt8(ascii: "a") + 10
            if let first = high {
                bytes.append(first << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        count += 1
    }

    /// The array as a binary parameter, once its element count and has-nulls
    /// flag are written into the header (in place: nothing is copied).
    mutating func parameter() -> PGParameter {
        let (flag, length) = (UInt32(hasNull ? 1 : 0).bigEndian, count.bigEndian)
        bytes.withUnsafeMutableBytes { header in
            header.storeBytes(of: flag, toByteOffset: 4, as: UInt32.self)
            header.storeBytes(of: length, toByteOffset: 12, as: Int32.self)
        }
        return .bytes(bytes)
    }
}
