import RecoveryDomain

/// A PostgreSQL array literal in text format (`{"a","b",NULL}`), built as
/// bytes: how a query's list of keys goes as one parameter
/// (`= ANY($1::text[])`, `unnest($1::text[], $2::date[])`). Elements are
/// quoted, with `"` and `\` escaped. (A batch's columns go in binary:
/// ``PGBinaryArray``.)
struct PGTextArray {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var empty = true
    /// True once an element held a NUL, which no text parameter can carry.
    private(set) var containsNUL = false

    init(reservingBytes capacity: Int = 64) {
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = false
    }

    mutating func append(_ value: (some Sequence<UInt8>)?) {
        separate()
        guard let value else {
            bytes.append(contentsOf: "NULL".utf8)
            return
        }
        bytes.append(UInt8(ascii: "\""))
        // Contiguous values (every String, every array) go in runs between
        // the bytes that need escaping, not byte by byte.
        if value.withContiguousStorageIfAvailable({ appendEscaped($0) }) == nil {
            for byte in value { appendEscaped(byte) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ buffer: UnsafeBufferPointer<UInt8>) {
        var run = 0
        for index in buffer.indices {
            let byte = buffer[index]
            guard byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0 else { continue }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[run..<index]))
            appendEscaped(byte)
            run = index + 1
        }
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[run...]))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"):
            bytes.append(UInt8(ascii: "\\"))
            bytes.append(byte)
        case 0:
            containsNUL = true
        default:
            bytes.append(byte)
        }
    }

    mutating func append(_ value: String?) { append(value?.utf8) }

    var parameter: PGParameter { .textBytes(bytes + [UInt8(ascii: "}")]) }

    /// The literal as text.
    var literal: String { String(decoding: bytes + [UInt8(ascii: "}")], as: UTF8.self) }
}
