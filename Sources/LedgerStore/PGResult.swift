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

extension Hex {
    /// PostgreSQL's `\x…` bytea text form.
    static func decode(bytea raw: UnsafeRawBufferPointer) -> [UInt8]? {
        guard raw.count >= 2, raw[0] == UInt8(ascii: "\\"), raw[1] == UInt8(ascii: "x") else { return nil }
        return decode(hex: UnsafeRawBufferPointer(rebasing: raw[2...]))
    }
}
