import CLibPQ
import Foundation
import Synchronization

/// One libpq connection: parameterised statements, transactions and COPY,
/// every wait bounded by a deadline (``PGTimeouts``).
///
/// **Threading.** Every call blocks the calling thread until PostgreSQL
/// answers or its deadline passes. A connection is used by one thread at a
/// time and is not `Sendable`; it must never be called on a SwiftNIO
/// event-loop thread — the daemon gives each connection to one dedicated
/// thread (its writer, or a reader pool).
///
/// **Deadlines.** libpq is used in non-blocking mode and its socket is
/// polled with the time left. A wait that passes its deadline throws
/// ``StoreError/Code-swift.struct/timeout`` and *abandons* the connection: the
/// socket is closed without sending a cancel, so nothing the server was doing
/// is reported back as done. A COMMIT abandoned this way, or one that loses its
/// connection, or one that returns with a WARNING (PostgreSQL reports a
/// cancelled wait for synchronous replication as success plus a warning),
/// throws ``StoreError/Code-swift.struct/commitUnknown``: the transaction may or
/// may not exist, and only reading the tables again can tell.
///
/// Connection settings are libpq's own: a conninfo string (`host=… dbname=…`)
/// or a URI (`postgresql://…`), multi-host lists included, with anything left
/// out taken from the `PG*` environment variables, `~/.pgpass` and service
/// files. TCP keepalives and `tcp_user_timeout` get defaults
/// (``PGTimeouts/socketDefaults``) that the conninfo may override.
///
/// Sendable with no lock of its own: libpq connections may move between
/// threads but must not be used by two at once, and every owner here
/// (the writer's thread, a read-pool thread holding it checked out, a round
/// of the tailer) uses one alone and hands it on only through a lock.
public final class PGConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    public let timeouts: PGTimeouts
    private let notices = NoticeLog()

    /// Names of session-scoped objects (temporary tables, prepared statements)
    /// created on this connection, so they are created once per session.
    public var sessionObjects: Set<String> = []

    /// `host:port` of the server this connection reached (of a multi-host list).
    public let server: String

    /// Connects within `timeouts.connect`; an empty conninfo uses libpq's
    /// defaults and the environment. `preferringNot` names a `host:port` of a
    /// multi-host conninfo to try last (one whose commits just timed out).
    public init(_ conninfo: String, timeouts: PGTimeouts = PGTimeouts(), preferringNot avoided: String? = nil) throws(StoreError) {
        self.timeouts = timeouts
        let deadline = ContinuousClock.now + timeouts.connect
        let parameters = try Self.parameters(conninfo, timeouts: timeouts, avoiding: avoided)
        let keywords = parameters.map { strdup($0.key) }
        let values = parameters.map { strdup($0.value) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let started = (keywords.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { keywordList in
            (values.map { UnsafePointer($0) } + [nil]).withUnsafeBufferPointer { valueList in
                PQconnectStartParams(keywordList.baseAddress, valueList.baseAddress, 0)
            }
        }
        guard let handle = started else { throw StoreError(.connection, "libpq could not allocate a connection") }
        self.handle = handle
        do {
            try Self.poll(connecting: handle, until: deadline, limit: timeouts.connect)
        } catch {
            PQfinish(handle)
            self.handle = nil
            throw error
        }
        PQsetnonblocking(handle, 1)
        server = "\(PQhost(handle).map { String(cString: $0) } ?? ""):\(PQport(handle).map { String(cString: $0) } ?? "")"
        // Notices go to the log (to spot a COMMIT that returned with a
        // warning), never to stderr.
        PQsetNoticeReceiver(handle, { context, result in
            guard let context, let result else { return }
            Unmanaged<NoticeLog>.fromOpaque(context).takeUnretainedValue().record(result)
        }, Unmanaged.passUnretained(notices).toOpaque())
    }

    deinit { if let handle { PQfinish(handle) } }

    /// False once the server has gone away, or the connection was abandoned.
    public var isConnected: Bool { handle.map { PQstatus($0) == CONNECTION_OK } ?? false }

    /// The server's process id for this session.
    public var backendPID: Int32 { handle.map { PQbackendPID($0) } ?? 0 }

    /// Closes the socket at once, sending nothing: what the server was doing
    /// for this session (a COMMIT waiting for a standby) is not cancelled.
    public func abandon() {
        guard let handle else { return }
        PQfinish(handle)
        self.handle = nil
        sessionObjects.removeAll()
    }

    // MARK: Statements

    /// Runs one statement with `$1 … $n` parameters and returns its rows, in
    /// text format, or in binary when `binaryResult` (each column's `_send`
    /// form: read them with the `binary…` accessors of ``PGResult``).
    @discardableResult
    public func query(_ sql: String, _ parameters: [PGParameter?] = [], binaryResult: Bool = false) throws(StoreError) -> PGResult {
        let handle = try live()
        let sent = Self.withValues(parameters) { values, lengths, formats in
            PQsendQueryParams(handle, sql, Int32(parameters.count), nil, values, lengths, formats, binaryResult ? 1 : 0)
        }
        return try finish(sent: sent, deadline: ContinuousClock.now + timeouts.statement, what: "a statement")
    }

    /// Hands libpq's three parameter arrays to `body`. All values share one
    /// buffer; text values are NUL-terminated (libpq ignores lengths for text),
    /// bytea values go binary.
    private static func withValues<T>(
        _ parameters: [PGParameter?],
        _ body: ([UnsafePointer<CChar>?], [Int32], [Int32]) -> T
    ) -> T {
        var storage: [UInt8] = []
        storage.reserveCapacity(parameters.reduce(0) { $0 + ($1?.byteCount ?? 0) + 1 })
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
                storage.append(contentsOf: text.utf8)
                storage.append(0)
                lengths.append(0)
                formats.append(0)
            case .textBytes(let bytes):
                storage.append(contentsOf: bytes)
                storage.append(0)
                lengths.append(0)
                formats.append(0)
            case .bytes(let bytes):
                storage.append(contentsOf: bytes)
                lengths.append(Int32(bytes.count))
                formats.append(1)
            }
        }
        storage.append(0)
        return storage.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                body(offsets.map { $0.map { UnsafePointer(chars.baseAddress! + $0) } }, lengths, formats)
            }
        }
    }

    // MARK: Pipeline mode

    /// Groups sent with ``sendPipeline(_:)`` whose results were not read yet.
    public private(set) var pipelinedGroups = 0

    /// Sends `statements` in libpq's pipeline mode, followed by a
    /// synchronisation point, without waiting for any result. PostgreSQL runs
    /// a group with no `BEGIN` as one implicit transaction, committed at the
    /// sync (or rolled back there after an error, which skips the rest of the
    /// group): a transaction in one round trip. The next group may be sent
    /// before this one's results are read; groups run in order.
    /// Prepared statements (``PGStatement/prepared``) are prepared on first use.
    public func sendPipeline(_ statements: [PGStatement]) throws(StoreError) {
        let handle = try live()
        let deadline = ContinuousClock.now + timeouts.statement
        for statement in statements {
            if let name = statement.prepared, !sessionObjects.contains(name) {
                guard pipelinedGroups == 0 else { break }
                do throws(StoreError) {
                    _ = try finish(
                        sent: PQsendPrepare(handle, name, statement.sql, Int32(statement.parameters.count), nil),
                        deadline: deadline, what: "PREPARE")
                } catch where error.sqlState == "42P05" {
                    // Prepared earlier in this session (prepared statements outlive a rollback).
                }
                sessionObjects.insert(name)
            }
        }
        if PQpipelineStatus(handle) == PQ_PIPELINE_OFF {
            guard PQenterPipelineMode(handle) == 1 else { throw lost() }
        }
        if pipelinedGroups == 0 { notices.warnings.removeAll() }
        for statement in statements {
            let sent = Self.withValues(statement.parameters) { values, lengths, formats in
                if let name = statement.prepared, sessionObjects.contains(name) {
                    return PQsendQueryPrepared(handle, name, Int32(statement.parameters.count), values, lengths, formats, 0)
                }
                return PQsendQueryParams(handle, statement.sql, Int32(statement.parameters.count), nil, values, lengths, formats, 0)
            }
            guard sent == 1 else { throw lost() }
        }
        guard PQpipelineSync(handle) == 1 else { throw lost() }
        pipelinedGroups += 1
        try flush(until: deadline, what: "a pipelined transaction")
    }

    /// Reads the results of the oldest group sent with ``sendPipeline(_:)``
    /// (an implicit transaction, committed at its sync), within
    /// `timeouts.commit` from now. Returns when the group committed. Throws the
    /// server's error if a statement was refused (nothing of the group
    /// committed), and ``StoreError/Code-swift.struct/commitUnknown`` if the
    /// answer did not come (the connection is then abandoned) or came with a
    /// warning: the COMMIT was sent, so only the tables can tell.
    public func receivePipeline() throws(StoreError) {
        precondition(pipelinedGroups > 0, "a group was sent")
        let deadline = ContinuousClock.now + timeouts.commit
        var refused: StoreError?
        do throws(StoreError) {
            while true {
                // nil ends one statement's results; the group ends at its sync.
                guard let result = try nextResult(until: deadline, what: "COMMIT") else { continue }
                let status = PQresultStatus(result)
                if status == PGRES_PIPELINE_SYNC {
                    PQclear(result)
                    break
                }
                if status == PGRES_PIPELINE_ABORTED {
                    PQclear(result)
                    continue
                }
                do throws(StoreError) {
                    _ = try check(result)
                } catch {
                    if refused == nil { refused = error }
                }
            }
        } catch {
            pipelinedGroups -= 1
            if let refused {
                abandon()
                throw refused
            }
            abandon()
            throw StoreError(.commitUnknown, sqlState: error.sqlState, "the outcome of COMMIT is unknown: \(error.message)")
        }
        pipelinedGroups -= 1
        if pipelinedGroups == 0, let handle {
            _ = PQexitPipelineMode(handle)
        }
        if let refused { throw refused }
        if let warning = notices.warnings.first {
            abandon()
            throw StoreError(.commitUnknown, "COMMIT returned with a warning, so its outcome is unknown: \(warning)")
        }
    }

    /// Runs one or more statements without parameters (migrations, `BEGIN`).
    public func execute(_ sql: String) throws(StoreError) {
        _ = try finish(sent: PQsendQuery(try live(), sql), deadline: ContinuousClock.now + timeouts.statement, what: "a statement")
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when
    /// it throws. The commit has happened when this returns; when its outcome is
    /// unknown it throws ``StoreError/Code-swift.struct/commitUnknown`` and the
    /// connection is abandoned.
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
        try commit()
        return value
    }

    /// `COMMIT` within `timeouts.commit`. Anything but a clean success with no
    /// warning leaves the outcome unknown (see the type's documentation).
    public func commit() throws(StoreError) {
        notices.warnings.removeAll()
        do {
            _ = try finish(sent: PQsendQuery(try live(), "COMMIT"), deadline: ContinuousClock.now + timeouts.commit, what: "COMMIT")
        } catch where error.code == .server && isConnected {
            sessionObjects.removeAll()
            throw error  // refused (a deferred constraint): rolled back, outcome known
        } catch {
            abandon()
            throw StoreError(.commitUnknown, sqlState: error.sqlState, "the outcome of COMMIT is unknown: \(error.message)")
        }
        if let warning = notices.warnings.first {
            abandon()
            throw StoreError(.commitUnknown, "COMMIT returned with a warning, so its outcome is unknown: \(warning)")
        }
    }

    // MARK: COPY

    /// `COPY … FROM STDIN`: sends `data` (already in COPY's text format) and
    /// returns the number of rows copied.
    @discardableResult
    public func copyIn(_ sql: String, data: [UInt8]) throws(StoreError) -> Int {
        try startCopy(sql, expecting: PGRES_COPY_IN, until: ContinuousClock.now + timeouts.statement)
        try send(data)
        return try endCopy()
    }

    /// `COPY … FROM STDIN` whose rows are made while they are sent: `produce`
    /// appends the next part of the data (COPY's text format) to an empty
    /// buffer and returns whether more follows. A thread of its own sends
    /// each part while the caller's makes the next (at most two wait), so
    /// PostgreSQL takes in rows while this side writes them, and memory holds
    /// a few parts, not the table. The statement's deadline applies to each
    /// wait, not to the whole copy. Returns the number of rows copied.
    @discardableResult
    public func copyIn(_ sql: String, produce: (inout [UInt8]) throws(StoreError) -> Bool) throws(StoreError) -> Int {
        let handle = try live()
        try startCopy(sql, expecting: PGRES_COPY_IN, until: ContinuousClock.now + timeouts.statement)
        let parts = CopyParts(capacity: 2)
        let sender = Thread { [self] in
            while let part = parts.take() {
                do throws(StoreError) {
                    try send(part)
                } catch {
                    parts.fail(error)
                    return
                }
            }
        }
        sender.start()
        var failure: StoreError?
        var more = true
        while more {
            var buffer: [UInt8] = []
            do throws(StoreError) {
                more = try produce(&buffer)
            } catch {
                failure = error
                break
            }
            if !parts.put(buffer) { break }  // the sender failed
        }
        parts.finish()
        parts.waitUntilDone()
        if let sent = parts.error {
            throw sent  // the connection is lost or abandoned
        }
        if let failure {
            // Ends the COPY with an error, so the statement fails and the
            // connection is ready for the ROLLBACK.
            let deadline = ContinuousClock.now + timeouts.statement
            if PQputCopyEnd(handle, "the rows could not be made") != 1
                || (try? flush(until: deadline, what: "COPY")) == nil || (try? drain(until: deadline, what: "COPY")) == nil
            {
                abandon()
            }
            throw failure
        }
        return try endCopy()
    }

    /// Ends a COPY whose data is sent, and returns the number of rows copied.
    private func endCopy() throws(StoreError) -> Int {
        let handle = try live()
        let deadline = ContinuousClock.now + timeouts.statement
        while true {
            let ended = PQputCopyEnd(handle, nil)
            if ended == -1 { throw lost() }
            if ended == 1 { break }
            try wait(for: Int16(POLLOUT), until: deadline, what: "COPY")
        }
        try flush(until: deadline, what: "COPY")
        let result = try check(try nextResult(until: deadline, what: "COPY"))
        try drain(until: deadline, what: "COPY")
        return result.affectedRows
    }

    /// Sends one part of a COPY's data and flushes it.
    private func send(_ part: [UInt8]) throws(StoreError) {
        let handle = try live()
        let deadline = ContinuousClock.now + timeouts.statement
        var offset = 0
        while offset < part.count {
            let chunk = min(part.count - offset, 1 << 16)
            let sent = part.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress! + offset, Int32(chunk)) }
            }
            if sent == -1 { throw lost() }
            if sent == 1 {
                offset += chunk
            } else {
                try wait(for: Int16(POLLOUT), until: deadline, what: "COPY")
            }
        }
        try flush(until: deadline, what: "COPY")
    }

    /// `COPY … TO STDOUT`: hands each row's bytes to `body` as they arrive. The
    /// deadline applies to each wait for more rows, not to the whole copy.
    public func copyOut(_ sql: String, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let handle = try live()
        var deadline = ContinuousClock.now + timeouts.statement
        try startCopy(sql, expecting: PGRES_COPY_OUT, until: deadline)
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if length == -1 { break }
            if length == 0 {
                try wait(for: Int16(POLLIN), until: deadline, what: "COPY")
                guard PQconsumeInput(handle) == 1 else { throw lost() }
                continue
            }
            guard length > 0, let buffer else { throw lost() }
            defer { PQfreemem(buffer) }
            deadline = ContinuousClock.now + timeouts.statement
            try body(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
        }
        _ = try check(try nextResult(until: deadline, what: "COPY"))
        try drain(until: deadline, what: "COPY")
    }

    /// Starts a `COPY … TO STDOUT` whose rows are then pulled one at a time
    /// with ``nextCopyRow(_:)``, as the caller wants them: the server streams
    /// ahead into the socket's buffers and waits once they are full, so a
    /// reader that pauses holds the query, not memory.
    public func beginCopyOut(_ sql: String) throws(StoreError) {
        try startCopy(sql, expecting: PGRES_COPY_OUT, until: ContinuousClock.now + timeouts.statement)
    }

    /// The next row of the copy started by ``beginCopyOut(_:)``, handed to
    /// `body`; nil once the copy has ended (its final result checked). The
    /// statement timeout bounds each wait for more rows.
    public func nextCopyRow<T>(_ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
        let handle = try live()
        let deadline = ContinuousClock.now + timeouts.statement
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let length = PQgetCopyData(handle, &buffer, 1)
            if length > 0, let buffer {
                defer { PQfreemem(buffer) }
                return try body(UnsafeRawBufferPointer(start: buffer, count: Int(length)))
            }
            if length == -1 {
                _ = try check(try nextResult(until: deadline, what: "COPY"))
                try drain(until: deadline, what: "COPY")
                return nil
            }
            guard length == 0 else { throw lost() }
            try wait(for: Int16(POLLIN), until: deadline, what: "COPY")
            guard PQconsumeInput(handle) == 1 else { throw lost() }
        }
    }

    /// Sends a `COPY` and waits for the server to enter the copy sub-protocol.
    private func startCopy(_ sql: String, expecting status: ExecStatusType, until deadline: ContinuousClock.Instant) throws(StoreError) {
        guard PQsendQuery(try live(), sql) == 1 else { throw lost() }
        try flush(until: deadline, what: "COPY")
        let start = try nextResult(until: deadline, what: "COPY")
        guard let start, PQresultStatus(start) == status else {
            _ = try check(start)  // the server's refusal, if it sent one
            try drain(until: deadline, what: "COPY")
            throw StoreError(.server, "COPY did not start")
        }
        PQclear(start)
    }

    // MARK: Waiting

    private func live() throws(StoreError) -> OpaquePointer {
        guard let handle else { throw StoreError(.connection, "the connection was abandoned after an earlier failure") }
        return handle
    }

    private func lost() -> StoreError {
        StoreError(.connection, Self.trimmed(handle.flatMap { PQerrorMessage($0) }))
    }

    /// After a send: flushes, collects every result, and returns the last one
    /// (or throws the first error, as `PQexec` would).
    private func finish(sent: Int32, deadline: ContinuousClock.Instant, what: String) throws(StoreError) -> PGResult {
        guard sent == 1 else { throw lost() }
        try flush(until: deadline, what: what)
        var last: PGResult?
        var failure: StoreError?
        while let result = try nextResult(until: deadline, what: what) {
            do throws(StoreError) {
                let checked = try check(result)
                if failure == nil { last = checked }
            } catch {
                if failure == nil { failure = error }
            }
        }
        if let failure { throw failure }
        guard let last else { throw lost() }
        return last
    }

    /// The next result of the statement in flight, nil when there are no more.
    private func nextResult(until deadline: ContinuousClock.Instant, what: String) throws(StoreError) -> OpaquePointer? {
        let handle = try live()
        while PQisBusy(handle) == 1 {
            try wait(for: Int16(POLLIN), until: deadline, what: what)
            guard PQconsumeInput(handle) == 1 else { throw lost() }
        }
        return PQgetResult(handle)
    }

    private func drain(until deadline: ContinuousClock.Instant, what: String) throws(StoreError) {
        while let extra = try nextResult(until: deadline, what: what) { PQclear(extra) }
    }

    private func flush(until deadline: ContinuousClock.Instant, what: String) throws(StoreError) {
        let handle = try live()
        while true {
            let pending = PQflush(handle)
            if pending == 0 { return }
            if pending == -1 { throw lost() }
            try wait(for: Int16(POLLIN | POLLOUT), until: deadline, what: what)
            if PQconsumeInput(handle) == 0 { throw lost() }
        }
    }

    /// Waits until the socket is ready for `events`; past `deadline` the
    /// connection is abandoned and the wait throws ``StoreError/Code-swift.struct/timeout``.
    private func wait(for events: Int16, until deadline: ContinuousClock.Instant, what: String) throws(StoreError) {
        let handle = try live()
        let ready = Self.poll(socket: PQsocket(handle), events: events, until: deadline)
        if ready { return }
        let limit = what == "COMMIT" ? timeouts.commit : timeouts.statement
        abandon()
        throw StoreError(.timeout, "\(what) did not finish within \(limit); the connection was dropped")
    }

    /// True when `socket` is ready before `deadline`.
    static func poll(socket: Int32, events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            let milliseconds = Int32(clamping: left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000_000 * 1_000 + 1)
            var descriptor = pollfd(fd: socket, events: events, revents: 0)
            let count = Glibc.poll(&descriptor, 1, milliseconds)
            if count > 0 { return true }
            if count < 0 && errno != EINTR { return true }  // let libpq report the error
        }
    }

    /// Drives a non-blocking connect (every host of a multi-host list) to its end.
    private static func poll(connecting handle: OpaquePointer, until deadline: ContinuousClock.Instant, limit: Duration) throws(StoreError) {
        var status = PGRES_POLLING_WRITING
        while true {
            switch status {
            case PGRES_POLLING_OK:
                return
            case PGRES_POLLING_FAILED:
                throw StoreError(.connection, "could not connect to PostgreSQL: \(trimmed(PQerrorMessage(handle)))")
            case PGRES_POLLING_READING, PGRES_POLLING_WRITING:
                let events = status == PGRES_POLLING_READING ? Int16(POLLIN) : Int16(POLLOUT)
                guard poll(socket: PQsocket(handle), events: events, until: deadline) else {
                    throw StoreError(.timeout, "could not connect to PostgreSQL within \(limit)")
                }
            default:
                break
            }
            status = PQconnectPoll(handle)
        }
    }

    /// The keyword/value pairs to connect with: socket defaults first, then
    /// everything the conninfo says (which therefore wins), with the avoided
    /// host of a multi-host list moved to the end.
    static func parameters(_ conninfo: String, timeouts: PGTimeouts, avoiding avoided: String?) throws(StoreError) -> [(key: String, value: String)] {
        var parameters = PGTimeouts.socketDefaults
        parameters.append(("connect_timeout", "\(max(2, timeouts.connect.components.seconds))"))
        guard !conninfo.isEmpty else { return parameters }
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            let message = error.map { String(cString: $0) } ?? "cannot parse it"
            if let error { PQfreemem(error) }
            throw StoreError(.connection, "the connection string is not valid: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        defer { PQconninfoFree(options) }
        var given: [(key: String, value: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val, value.pointee != 0 { given.append((String(cString: keyword), String(cString: value))) }
            option += 1
        }
        if let avoided { given = HostOrder.moving(avoided, toTheEndOf: given) }
        return parameters + given
    }

    private func check(_ result: OpaquePointer?) throws(StoreError) -> PGResult {
        guard let result else { throw lost() }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN, PGRES_COPY_OUT:
            return PGResult(result)
        default:
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            var message = Self.trimmed(PQresultErrorMessage(result))
            if message.isEmpty, let handle { message = Self.trimmed(PQerrorMessage(handle)) }
            PQclear(result)
            throw StoreError(sqlState == nil || !isConnected ? .connection : .server, sqlState: sqlState, message)
        }
    }

    static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The warnings PostgreSQL sent on a connection (notices of lower severity are
/// dropped). Written by libpq's notice callback on the connection's thread.
final class NoticeLog {
    var warnings: [String] = []

    func record(_ result: OpaquePointer) {
        let severity = PQresultErrorField(result, Int32(UInt8(ascii: "V"))).map { String(cString: $0) }
        guard severity == "WARNING" else { return }
        warnings.append(PGConnection.trimmed(PQresultErrorField(result, Int32(UInt8(ascii: "M")))))
    }
}

/// A statement parameter: text (PostgreSQL parses it as the column's type) or
/// raw bytes for a `bytea`.
public enum PGParameter: Sendable {
    case text(String)
    /// Text already as UTF-8 bytes (no NUL): saves building a `String`.
    case textBytes([UInt8])
    case bytes([UInt8])

    var byteCount: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .textBytes(let bytes), .bytes(let bytes): bytes.count
        }
    }
}

/// One statement of a pipelined group: its text, parameters, and a name to
/// prepare it under once per session (worth it for statements sent every batch).
public struct PGStatement: Sendable {
    public var sql: String
    public var prepared: String?
    public var parameters: [PGParameter?]

    public init(_ sql: String, prepared: String? = nil, _ parameters: [PGParameter?] = []) {
        self.sql = sql
        self.prepared = prepared
        self.parameters = parameters
    }
}

extension PGParameter: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .text(String(value)) }
    public static func int(_ value: some BinaryInteger) -> PGParameter { .text(String(value)) }
}

/// The parts of a COPY handed from the thread that makes them to the one
/// that sends them: at most `capacity` wait, so memory stays bounded. A
/// bounded buffer under a `Mutex`, a semaphore counting free places (the
/// maker waits on it), one counting parts (the sender waits on it), and one
/// the sender signals when it has stopped.
final class CopyParts: Sendable {
    private struct Held {
        var parts: [[UInt8]] = []
        var finished = false
        var error: StoreError?
    }

    private let held = Mutex(Held())
    private let places: DispatchSemaphore
    private let ready = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(capacity: Int) { places = DispatchSemaphore(value: capacity) }

    /// The sender's error, once it stopped.
    var error: StoreError? { held.withLock { $0.error } }

    /// Hands a part over; false once the sender has failed (nothing more is sent).
    func put(_ part: [UInt8]) -> Bool {
        places.wait()
        let taken = held.withLock { held in
            guard held.error == nil else { return false }
            held.parts.append(part)
            return true
        }
        if taken { ready.signal() } else { places.signal() }
        return taken
    }

    /// No more parts follow.
    func finish() {
        held.withLock { $0.finished = true }
        ready.signal()
    }

    /// The next part, or nil when there are no more (the sender then stops).
    func take() -> [UInt8]? {
        while true {
            let next: [UInt8]?? = held.withLock { held in
                if !held.parts.isEmpty { return .some(held.parts.removeFirst()) }
                return held.finished ? .some(nil) : nil
            }
            switch next {
            case .some(.some(let part)):
                places.signal()
                return part
            case .some(.none):
                done.signal()
                return nil
            case .none:
                ready.wait()
            }
        }
    }

    /// The sender failed: it stops, and the maker's next `put` returns false.
    func fail(_ error: StoreError) {
        held.withLock { $0.error = error }
        places.signal()
        done.signal()
    }

    /// Waits for the sender to stop (all parts sent, or failed).
    func waitUntilDone() { done.wait() }
}
