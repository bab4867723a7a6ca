import RecoveryDomain
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

    /// An integer column's value, read from its digits without making a `String`.
    public func int64(_ row: Int, _ column: Int) -> Int64? {
        guard !isNull(row, column) else { return nil }
        return withUTF8(row, column) { bytes -> Int64? in
            var rest = bytes[...]
            let negative = rest.first == UInt8(ascii: "-")
            if negative || rest.first == UInt8(ascii: "+") { rest = rest.dropFirst() }
            guard !rest.isEmpty else { return nil }
            var value: Int64 = 0
            for byte in rest {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                let digit = Int64(byte - UInt8(ascii: "0"))
                let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, carry) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
                guard !overflow, !carry else { return nil }
                value = sum
            }
            return value
        }
    }

    public func bool(_ row: Int, _ column: Int) -> Bool? {
        guard !isNull(row, column) else { return nil }
        return withUTF8(row, column) { $0.first == UInt8(ascii: "t") }
    }

    /// A time column written as RFC 3339 text.
    public func timestamp(_ row: Int, _ column: Int) -> Timestamp? {
        guard !isNull(row, column) else { return nil }
        return withUTF8(row, column) { Timestamp(rfc3339: $0) }
    }

    /// A `date` column (`YYYY-MM-DD`).
    public func day(_ row: Int, _ column: Int) -> BusinessDay? {
        guard !isNull(row, column) else { return nil }
        return withUTF8(row, column) { BusinessDay(iso: $0) }
    }

    /// The value's raw text bytes, as UTF-8 code units.
    func withUTF8<T>(_ row: Int, _ column: Int, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        withBytes(row, column) { body($0.assumingMemoryBound(to: UInt8.self)) }
    }

    /// A `bigint` of a binary result: eight bytes, big-endian.
    public func binaryInt64(_ row: Int, _ column: Int) -> Int64? {
        guard !isNull(row, column) else { return nil }
        return withBytes(row, column) { raw -> Int64? in
            guard raw.count == 8 else { return nil }
            return raw.reduce(0) { $0 << 8 | Int64($1) }
        }
    }

    /// A `bytea` value (text output `\x…` in hex).
    public func bytea(_ row: Int, _ column: Int) throws(StoreError) -> [UInt8]? {
        guard !isNull(row, column) else { return nil }
        let decoded = withBytes(row, column) { Hex.decode(bytea: $0) }
        guard let decoded else { throw StoreError(.corrupt, "bytea value is not in hex format") }
        return decoded
    }
}

extension Hex {
    /// PostgreSQL's `\x…` bytea text form.
    static func decode(bytea raw: UnsafeRawBufferPointer) -> [UInt8]? {
        guard raw.count >= 2, raw[0] == UInt8(ascii: "\\"), raw[1] == UInt8(ascii: "x") else { return nil }
        return decode(hex: UnsafeRawBufferPointer(rebasing: raw[2...]))
    }
}
