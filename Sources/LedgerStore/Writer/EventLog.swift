import RecoveryDomain

/// The connection of the ledger's single writer (docs/STORE.md, "Single
/// writer"): holds the writer's advisory lock for as long as it lives, knows
/// the chain's head, and writes batches of events in one transaction each —
/// with the checkpoint and any projection rows — so a batch is all there after
/// COMMIT or not at all. The daemon's appends go through ``WriterDriver``,
/// which decides them and uses ``send(_:projections:)`` and ``receive(_:)``;
/// ``append(_:alsoWrite:)`` writes rows already decided (a rebuild, the store
/// benchmark).
///
/// Blocking, like its ``PGConnection``: use it from one dedicated thread.
public final class EventLog {
    /// Advisory lock key a writer holds ("rcvdwrtr" in ASCII).
    public static let writerLockKey: Int64 = 0x7263_7664_7772_7472

    /// How a batch's rows are sent. `recovery-bench store` compares them
    /// (docs/BENCHMARKS.md): COPY is faster from about a hundred rows (67k vs 40k
    /// events/s at 1,000), a parameterised INSERT slightly faster for a single
    /// row (one round trip fewer), so `.automatic` picks by batch size.
    public enum BatchMethod: String, Sendable, CaseIterable {
        /// `.insert` below ``EventLog/copyThreshold`` rows, `.copy` from there.
        case automatic
        /// `COPY events FROM STDIN` in text format.
        case copy
        /// One multi-row `INSERT … VALUES (…), (…)` with parameters.
        case insert
    }

    /// Batches of at least this many rows go by COPY under `.automatic`.
    public static let copyThreshold = 16

    public let connection: PGConnection
    public var batchMethod: BatchMethod = .automatic
    /// The last recorded position and its hash.
    public private(set) var head: ChainHead

    /// Takes the writer's lock on `connection`'s database, or fails at once with
    /// ``StoreError/Code/writerLocked`` if another session holds it.
    public init(connection: PGConnection) throws(StoreError) {
        self.connection = connection
        let locked = try connection.query("SELECT pg_try_advisory_lock($1)", [.int(Self.writerLockKey)])
        guard locked.bool(0, 0) == true else {
            let who = (try? Self.lockHolder(connection)).flatMap { $0 }.map {
                " (PostgreSQL backend pid \($0.pid), application \"\($0.application)\", from \($0.from))"
            } ?? ""
            throw StoreError(
                .writerLocked,
                "another writer holds this ledger\(who); only one recoveryd may write to a ledger at a time")
        }
        head = .empty
        head = try EventReader(connection: connection).head()
        tip = head
    }

    /// The session holding this database's writer lock, if any: its backend
    /// pid, its `application_name` (the writer daemon sets
    /// `recoveryd@<address>`) and where it connects from.
    public static func lockHolder(_ connection: PGConnection) throws(StoreError) -> (pid: String, application: String, from: String)? {
        let holder = try connection.query(
            """
            SELECT l.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local socket')
            FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid()
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid::bigint = ($1::bigint >> 32) AND l.objid::bigint = ($1::bigint & 4294967295)
            """, [.int(writerLockKey)])
        guard holder.rowCount > 0 else { return nil }
        return (holder.string(0, 0) ?? "?", holder.string(0, 1) ?? "", holder.string(0, 2) ?? "?")
    }

    /// Gives the writer's lock back (also released when the connection closes).
    public func releaseLock() throws(StoreError) {
        try connection.query("SELECT pg_advisory_unlock($1)", [.int(Self.writerLockKey)])
    }

    /// Re-reads the head from the table: after a failed commit whose outcome is
    /// unknown, the table is the truth.
    public func resynchronize() throws(StoreError) {
        head = try EventReader(connection: connection).head()
        tip = head
    }

    /// What the log holds already under these ids.
    public func existing(_ ids: some Collection<EventID>) throws(StoreError) -> [EventID: ExistingEvent] {
        guard !ids.isEmpty else { return [:] }
        let list = "{" + ids.map(\.text).joined(separator: ",") + "}"
        let result = try connection.query(
            "SELECT event_id, position, hash, content_digest FROM events WHERE event_id = ANY($1::uuid[])", [.text(list)])
        var found: [EventID: ExistingEvent] = [:]
        for row in 0..<result.rowCount {
            guard let id = result.string(row, 0).flatMap(EventID.init), let position = result.int64(row, 1),
                let hash = try result.bytea(row, 2), let digest = try result.bytea(row, 3)
            else { throw StoreError(.corrupt, "unreadable events row") }
            found[id] = ExistingEvent(position: position, hash: hash, contentDigest: digest)
        }
        return found
    }

    /// Appends `rows`, which must continue the chain (positions head+1, head+2, …),
    /// in one transaction that also moves the checkpoint and runs `alsoWrite`
    /// (the caller's projection rows). Returns each row's position and hash once
    /// COMMIT has returned. On any error nothing was acknowledged, and ``head``
    /// is what the table holds.
    @discardableResult
    public func append(_ rows: [EventRow], alsoWrite: (PGConnection) throws -> Void = { _ in }) throws -> [ChainHead] {
        guard !rows.isEmpty else { return [] }
        var receipts: [ChainHead] = []
        receipts.reserveCapacity(rows.count)
        var previous = head
        for row in rows {
            guard row.position == previous.position + 1 else {
                throw StoreError(
                    .outOfOrder, "position \(row.position) does not follow the chain's head \(previous.position)")
            }
            previous = ChainHead(position: row.position, hash: HashChain.next(after: previous.hash, payload: row.payload))
            receipts.append(previous)
        }
        do {
            try connection.transaction {
                switch batchMethod {
                case .copy: try copy(rows, hashes: receipts)
                case .insert: try insert(rows, hashes: receipts)
                case .automatic:
                    if rows.count >= Self.copyThreshold {
                        try copy(rows, hashes: receipts)
                    } else {
                        try insert(rows, hashes: receipts)
                    }
                }
                try connection.query(
                    "UPDATE ledger_checkpoint SET position = $1, hash = $2, updated_at = now()",
                    [.int(previous.position), .bytes(previous.hash)])
                try alsoWrite(connection)
            }
        } catch {
            if connection.isConnected { try? resynchronize() }
            throw error
        }
        head = previous
        tip = head
        return receipts
    }

    // MARK: Pipelined batches

    /// A batch sent by ``send(_:projections:)`` whose COMMIT was not read yet.
    public struct SentBatch: Sendable {
        /// Each row's position and hash, valid once ``EventLog/receive(_:)`` returns.
        public let receipts: [ChainHead]
        let head: ChainHead
    }

    /// Where the chain ends counting the batches sent and not yet received:
    /// ``head`` when none is in flight.
    public private(set) var tip: ChainHead = .empty

    /// Sends `rows` (continuing ``tip``) and the statements that write their
    /// projection rows as one transaction in pipeline mode, without waiting:
    /// the checkpoint moved from the tip it was decided on, the rows by
    /// `unnest` of one array per column, the projections; PostgreSQL commits
    /// them as one implicit transaction at the group's sync. A
    /// second batch may be sent before the first is received; since its
    /// checkpoint step expects the first one's head, it fails if the first did.
    public func send(_ rows: [EventRow], projections: [PGStatement]) throws(StoreError) -> SentBatch {
        let (statements, receipts) = try Self.batchStatements(rows, after: tip, projections: projections)
        let previous = receipts.last ?? tip
        do {
            try connection.sendPipeline(statements)
        } catch {
            tip = head
            throw error
        }
        tip = previous
        return SentBatch(receipts: receipts, head: previous)
    }

    /// The columns of a batch's events, as the statement writes them.
    private static let eventColumns: [PGColumns.Column] = [
        .init("position", "bigint"), .init("event_id", "uuid"), .init("type", "text"), .init("case_id", "text"),
        .init("agent_id", "text"), .init("recorded_at", "timestamptz"), .init("payload", "text"),
        .init("content_digest", "bytea"), .init("hash", "bytea"),
    ]

    /// The statements of one batch's transaction (see ``send(_:projections:)``)
    /// and each row's position and hash: pure, no I/O. Throws `out_of_order`
    /// for rows that do not continue `tip`, and a data error for a NUL or a
    /// value out of its column's range.
    public static func batchStatements(_ rows: [EventRow], after tip: ChainHead, projections: [PGStatement]) throws(StoreError)
        -> (statements: [PGStatement], receipts: [ChainHead])
    {
        // Binary columns: no quoting, escaping or hex to write here or to undo in the server.
        var events = PGColumns(
            table: "events", columns: eventColumns, rows: rows.count,
            reservingBytes: [6: rows.reduce(0) { $0 + $1.payload.count + 4 }, 7: rows.count * 36, 8: rows.count * 36])
        var receipts: [ChainHead] = []
        receipts.reserveCapacity(rows.count)
        var previous = tip
        for row in rows {
            guard row.position == previous.position + 1 else {
                throw StoreError(.outOfOrder, "position \(row.position) does not follow the chain's tip \(previous.position)")
            }
            previous = ChainHead(position: row.position, hash: HashChain.next(after: previous.hash, payload: row.payload))
            receipts.append(previous)
            events.arrays[0].append(row.position)
            events.arrays[1].append(row.eventID)
            events.arrays[2].append(row.type)
            events.arrays[3].append(row.caseID)
            events.arrays[4].append(row.agentID)
            events.arrays[5].append(row.recordedAt)
            events.arrays[6].append(row.payload, text: true)
            events.arrays[7].append(row.contentDigest, text: false)
            events.arrays[8].append(previous.hash, text: false)
            events.endRow()
        }
        if let (sqlState, message) = events.invalid { throw StoreError(.server, sqlState: sqlState, message) }
        var statements = [
            PGStatement(
                "SELECT ledger_advance($1, $2, $3, $4)", prepared: "recoveryd_advance",
                [.int(tip.position), .bytes(tip.hash), .int(previous.position), .bytes(previous.hash)])
        ]
        if !rows.isEmpty { statements.append(events.statement()) }
        statements += projections
        return (statements, receipts)
    }

    /// Waits for the oldest batch sent to commit (see
    /// ``PGConnection/receivePipeline()`` for the errors); ``head`` then moves
    /// to its end. After an error every later batch in flight fails too, and
    /// ``tip`` goes back to ``head``.
    public func receive(_ batch: SentBatch) throws(StoreError) {
        do {
            try connection.receivePipeline()
        } catch {
            tip = head
            throw error
        }
        head = batch.head
    }

    private func copy(_ rows: [EventRow], hashes: [ChainHead]) throws {
        var data: [UInt8] = []
        data.reserveCapacity(rows.reduce(0) { $0 + $1.payload.count + 300 })
        for (row, receipt) in zip(rows, hashes) {
            data.append(contentsOf: String(row.position).utf8)
            data.append(0x09)
            row.eventID.appendText(to: &data)
            data.append(0x09)
            data.append(contentsOf: row.type.utf8)
            data.append(0x09)
            if let caseID = row.caseID { data.append(contentsOf: caseID.utf8) } else { data.append(contentsOf: #"\N"#.utf8) }
            data.append(0x09)
            data.append(contentsOf: row.agentID.utf8)
            data.append(0x09)
            data.append(contentsOf: row.recordedAt.description.utf8)
            data.append(0x09)
            CopyText.appendEscaped(row.payload, to: &data)
            data.append(0x09)
            CopyText.appendBytea(row.contentDigest, to: &data)
            data.append(0x09)
            CopyText.appendBytea(receipt.hash, to: &data)
            data.append(0x0A)
        }
        try connection.copyIn(
            "COPY events (position, event_id, type, case_id, agent_id, recorded_at, payload, content_digest, hash) FROM STDIN",
            data: data)
    }

    private func insert(_ rows: [EventRow], hashes: [ChainHead]) throws {
        var sql = "INSERT INTO events (position, event_id, type, case_id, agent_id, recorded_at, payload, content_digest, hash) VALUES "
        var parameters: [PGParameter?] = []
        parameters.reserveCapacity(rows.count * 9)
        for (index, (row, receipt)) in zip(rows, hashes).enumerated() {
            let base = index * 9
            sql += index == 0 ? "(" : ",("
            sql += (1...9).map { "$\(base + $0)" }.joined(separator: ",")
            sql += ")"
            parameters += [
                .int(row.position), .text(row.eventID.text), .text(row.type), row.caseID.map(PGParameter.text),
                .text(row.agentID), .text(row.recordedAt.description),
                .text(String(decoding: row.payload, as: UTF8.self)), .bytes(row.contentDigest), .bytes(receipt.hash),
            ]
        }
        try connection.query(sql, parameters)
    }
}

/// PostgreSQL's COPY text format: backslash escapes for the few bytes that
/// would break a row, `\\x…` for bytea.
enum CopyText {
    static func appendEscaped(_ bytes: some Sequence<UInt8>, to data: inout [UInt8]) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): data.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: data.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: data.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: data.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            default: data.append(byte)
            }
        }
    }

    /// A text value, escaped, read straight from the string's bytes.
    static func appendEscaped(_ text: String, to data: inout [UInt8]) {
        let done: Void? = text.utf8.withContiguousStorageIfAvailable { appendEscaped($0, to: &data) }
        if done == nil { appendEscaped(text.utf8, to: &data) }
    }

    static func appendBytea(_ bytes: [UInt8], to data: inout [UInt8]) {
        data.append(contentsOf: [0x5C, 0x5C, UInt8(ascii: "x")])
        data.append(contentsOf: Hex.encode(bytes).utf8)
    }
}
