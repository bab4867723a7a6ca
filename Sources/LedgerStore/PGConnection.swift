import CLibPQ
import Foundation

/// One libpq connection: parameterised statements, transactions and COPY.
///
/// **Threading.** Every call blocks the calling thread until PostgreSQL
/// answers. A connection is used by one thread at a time and is not `Sendable`;
/// it must never be called on a SwiftNIO event-loop thread — the daemon gives
/// each connection to one dedicated thread (its writer, or a reader pool).
///
/// Connection settings are libpq's own: a conninfo string (`host=… dbname=…`)
/// or a URI (`postgresql://…`), with anything left out taken from the `PG*`
/// environment variables, `~/.pgpass` and service files.
public final class PGConnection {
    private let handle: OpaquePointer

    /// Names of session-scoped objects (temporary tables, prepared statements)
    /// created on this connection, so they are created once per session.
    public var sessionObjects: Set<String> = []

    /// Connects; an empty conninfo uses libpq's defaults and the environment.
    public init(_ conninfo: String) throws(StoreError) {
        guard let handle = PQconnectdb(conninfo) else {
            throw StoreError(.connection, "libpq could not allocate a connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(handle))
            PQfinish(handle)
            throw StoreError(.connection, "could not connect to PostgreSQL: \(message)")
        }
        self.handle = handle
        // Server notices ("relation … already exists, skipping") are not errors;
        // libpq would print them to stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
    }

    deinit { PQfinish(handle) }

    /// False once the server has gone away (libpq noticed on the last call).
    public var isConnected: Bool { PQstatus(handle) == CONNECTION_OK }

    /// The server's process id for this session.
    public var backendPID: Int32 { PQbackendPID(handle) }

    /// Runs one statement with `$1 … $n` parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [PGParameter?] = []) throws(StoreError) -> PGResult {
        // One contiguous buffer for all values; text values are NUL-terminated
        // (libpq ignores lengths for text), bytea values are sent binary.
        var storage: [CChar] = []
        var offsets: [Int?] = []
        var lengths: [Int32] = []
        var formats: [Int32] = []
        for parameter in parameters {
            guard let parameter else {
                offsets.append(nil)
                lengths.append(0)
                formats.append(0)
                continue
            }
            offsets.append(storage.count)
            switch parameter {
            case .text(let text):
                storage.append(contentsOf: text.utf8.map { CChar(bitPattern: $0) })
                storage.append(0)
                lengths.append(0)
                formats.append(0)
            case .bytes(let bytes):
                storage.append(contentsOf: bytes.map { CChar(bitPattern: $0) })
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        storage.append(0)
        let result = storage.withUnsafeBufferPointer { buffer in
            let values: [UnsafePointer<CChar>?] = offsets.map { $0.map { buffer.baseAddress! + $0 } }
            return PQexecParams(handle, sql, Int32(parameters.count), nil, values, lengths, formats, 0)
        }
        return try check(result)
    }

    /// Runs one or more statements without parameters (migrations, `BEGIN`).
    public func execute(_ sql: String) throws(StoreError) {
        _ = try check(PQexec(handle, sql))
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when
    /// it throws. The commit has happened when this returns.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN")
        let value: T
        do {
            value = try body()
        } catch {
            if isConnected { try? execute("ROLLBACK") }
            // Objects created in this transaction are gone with it.
            sessionObjects.removeAll()
            throw error
        }
        do {
            try execute("COMMIT")
        } catch {
            sessionObjects.removeAll()
            throw error
        }
        return value
    }

    /// `COPY … FROM STDIN`: sends `data` (already in COPY's text format) and
    /// returns the number of rows copied.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws(StoreError) -> Int {
        let start = PQexec(handle, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else { _ = try check(start); throw protocolError("COPY IN") }
        PQclear(start)
        let sent = data.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard sent == 1, PQputCopyEnd(handle, nil) == 1 else {
            throw StoreError(.connection, Self.trimmed(PQerrorMessage(handle)))
        }
        let result = try check(PQgetResult(handle))
        while let extra = PQgetResult(handle) { PQclear(extra) }
        return result.affectedRows
    }

    /// `COPY … TO STDOUT`: hands each row's bytes to `body` as they arrive.
    public func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let start = PQexec(handle, sql)
        guard PQresultStatus(start) == PGRES_COPY_OUT else { _ = try check(start); throw protocolError("COPY OUT") }
        PQclear(start)
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 0)
            if length == -1 { break }
            guard length >= 0, let buffer else { throw StoreError(.connection, Self.trimmed(PQerrorMessage(handle))) }
            defer { PQfreemem(buffer) }
            try body(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
        }
        _ = try check(PQgetResult(handle))
        while let extra = PQgetResult(handle) { PQclear(extra) }
    }

    private func protocolError(_ what: String) -> StoreError {
        StoreError(.server, "\(what) did not start")
    }

    private func check(_ result: OpaquePointer?) throws(StoreError) -> PGResult {
        guard let result else { throw StoreError(.connection, Self.trimmed(PQerrorMessage(handle))) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PGResult(result)
        default:
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            var message = Self.trimmed(PQresultErrorMessage(result))
            if message.isEmpty { message = Self.trimmed(PQerrorMessage(handle)) }
            PQclear(result)
            throw StoreError(sqlState == nil || !isConnected ? .connection : .server, sqlState: sqlState, message)
        }
    }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A statement parameter: text (PostgreSQL parses it as the column's type) or
/// raw bytes for a `bytea`.
public enum PGParameter: Sendable {
    case text(String)
    case bytes([UInt8])

}

extension PGParameter: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .text(String(value)) }
    public static func int(_ value: some BinaryInteger) -> PGParameter { .text(String(value)) }
}

