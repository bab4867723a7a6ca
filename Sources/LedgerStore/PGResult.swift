import CLibPQ

/// The rows of one statement, in libpq's text format. Owns its `PGresult`.
public final class PGResult {
    private let handle: OpaquePointer

    init(_ handle: OpaquePointer) { self.handle = handle }
    deinit { PQclear(handle) }

    public var rowCount: Int { Int(PQntuples(handle)) }
    public var columnCount: Int { Int(PQnfields(handle)) }

    /// Rows inserted, updated or copied by the statement.
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    public func isNull(_ row: Int, _ column: Int) -> Bool { PQgetisnull(handle, Int32(row), Int32(column)) == 1 }

    /// The value's raw text bytes, without copying them into a `String`.
    public func withBytes<T>(_ row: Int, _ column: Int, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        let pointer = PQgetvalue(handle, Int32(row), Int32(column))
        let length = Int(PQgetlength(handle, Int32(row), Int32(column)))
        return try body(UnsafeRawBufferPointer(start: pointer, count: length))
    }

    public func string(_ row: Int, _ column: Int) -> String? {
        guard !isNull(row, column) else { return nil }
        return withBytes(row, column) { String(decoding: $0, as: UTF8.self) }
    }

    public func bytes(_ row: Int, _ column: Int) -> [UInt8]? {
        guard !isNull(row, column) else { return nil }
        return withBytes(row, column) { Array($0) }
    }

    public func int64(_ row: Int, _ column: Int) -> Int64? { string(row, column).flatMap { Int64($0) } }

    public func bool(_ row: Int, _ column: Int) -> Bool? { string(row, column).map { $0 == "t" } }

    /// A `bytea` value (text output `\x…` in hex).
    public func bytea(_ row: Int, _ column: Int) throws(StoreError) -> [UInt8]? {
        guard !isNull(row, column) else { return nil }
        let decoded = withBytes(row, column) { Hex.decode(bytea: $0) }
        guard let decoded else { throw StoreError(.corrupt, "bytea value is not in hex format") }
        return decoded
    }
}

/// Lowercase hexadecimal, as hashes are shown on the wire.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func decode(_ text: String) -> [UInt8]? {
        Array(text.utf8).withUnsafeBytes { decode(hex: $0) }
    }

    /// PostgreSQL's `\x…` bytea text form.
    static func decode(bytea raw: UnsafeRawBufferPointer) -> [UInt8]? {
        guard raw.count >= 2, raw[0] == UInt8(ascii: "\\"), raw[1] == UInt8(ascii: "x") else { return nil }
        return decode(hex: UnsafeRawBufferPointer(rebasing: raw[2...]))
    }

    static func decode(hex raw: UnsafeRawBufferPointer) -> [UInt8]? {
        guard raw.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count / 2)
        var index = 0
        while index < raw.count {
            guard let high = nibble(raw[index]), let low = nibble(raw[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
