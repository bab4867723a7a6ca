import RecoveryDomain

/// Reads the log: by position range in pages (constant memory however long
/// the range), one case's events, and chain verification. Needs no lock; any
/// connection will do. Blocking, like its ``PGConnection``.
public struct EventReader {
    /// Rows fetched per round trip when streaming a range.
    public static let defaultPageSize = 1_000

    public let connection: PGConnection

    public init(connection: PGConnection) { self.connection = connection }

    /// The last recorded position and its hash (``ChainHead/empty`` for an empty log).
    public func head() throws(StoreError) -> ChainHead {
        let result = try connection.query("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
        guard result.rowCount == 1 else { return .empty }
        guard let position = result.int64(0, 0), let hash = try result.bytea(0, 1) else {
            throw StoreError(.corrupt, "unreadable head of the events table")
        }
        return ChainHead(position: position, hash: hash)
    }

    /// When the last event was recorded (nil for an empty log): the writer
    /// never records one before it, so business days never go back.
    public func lastRecordedAt() throws(StoreError) -> Timestamp? {
        let result = try connection.query(
            #"SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM events ORDER BY position DESC LIMIT 1"#)
        guard result.rowCount == 1 else { return nil }
        guard let recordedAt = result.timestamp(0, 0) else { throw StoreError(.corrupt, "unreadable head of the events table") }
        return recordedAt
    }

    /// When the event at `position` was recorded (nil past the head).
    public func recordedAt(_ position: Int64) throws(StoreError) -> Timestamp? {
        let result = try connection.query(
            #"SELECT to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM events WHERE position = $1"#,
            [.int(position)])
        return result.rowCount == 1 ? result.timestamp(0, 0) : nil
    }

    /// The ledger's opening events (docs/EVENTS.md, "Settings"): the batch
    /// holding its first `ledger_setting` recorded by the daemon, which holds
    /// from the first position on. Empty when there is none.
    public func opening() throws -> [RecordedEvent] {
        let first = try connection.query(
            "SELECT position FROM events WHERE type = 'ledger_setting' AND agent_id = $1 ORDER BY position LIMIT 1",
            [.text(Ledger.daemonAgentID)])
        guard first.rowCount == 1, let start = first.int64(0, 0) else { return [] }
        // The batch's events are contiguous, share its recorded_at, and are
        // settings and allowances only (the daemon records it alone).
        var opening: [RecordedEvent] = []
        var next = start
        while true {
            let events = try page(from: next)
            for stored in events {
                let recorded = try Self.decode(stored)
                guard recorded.event.type.isLedgerWide, opening.first.map({ $0.recordedAt == recorded.recordedAt }) ?? true else {
                    return opening
                }
                opening.append(recorded)
            }
            guard events.count == Self.defaultPageSize, let last = events.last else { return opening }
            next = last.position + 1
        }
    }

    /// Every `ledger_setting` event up to `position`, in order.
    public func settings(through position: Int64) throws -> [RecordedEvent] {
        let rows = try connection.query(
            "SELECT position, payload, hash FROM events WHERE type = 'ledger_setting' AND position <= $1 ORDER BY position",
            [.int(position)], binaryResult: true)
        return try (0..<rows.rowCount).map { row in try Self.decode(try Self.storedEvent(rows, row)) }
    }

    /// A stored event decoded; a payload that does not decode is corruption.
    static func decode(_ stored: StoredEvent) throws(StoreError) -> RecordedEvent {
        switch EventCodec.decodeRecorded(payload: stored.payload) {
        case .success(let recorded): return recorded
        case .failure(let rejection): throw StoreError(.corrupt, "the event at position \(stored.position) does not decode: \(rejection)")
        }
    }

    /// The stored hash at `position` (the genesis hash at 0), or nil past the head.
    public func hash(at position: Int64) throws(StoreError) -> [UInt8]? {
        guard position > 0 else { return HashChain.genesis }
        let result = try connection.query("SELECT hash FROM events WHERE position = $1", [.int(position)])
        return result.rowCount == 1 ? try result.bytea(0, 0) : nil
    }

    /// Calls `body` with every event from `from` through `to` (inclusive; `nil`
    /// for the head as it is when the read starts), in position order: one
    /// streamed query (``LogStream``), one page of `pageSize` rows in memory at
    /// a time. A gap (rows missing) is passed over; the caller sees the positions.
    public func forEach(
        from: Int64, through to: Int64? = nil, pageSize: Int = defaultPageSize, _ body: (StoredEvent) throws -> Void
    ) throws {
        try LogStream(connection: connection, from: from, through: to).forEach(pageSize: pageSize, body)
    }

    /// The events of positions `from` … `from + limit − 1` (and at most `to`),
    /// in order. Positions are gapless, so this is the next `limit` events;
    /// bounding the range (rather than `LIMIT` alone) keeps every page an index
    /// range scan of `limit` rows, whatever the planner's statistics say.
    public func page(from: Int64, through to: Int64? = nil, limit: Int = defaultPageSize) throws(StoreError) -> [StoredEvent] {
        precondition(limit > 0, "a page holds at least one event")
        let start = max(from, 1)
        let (sum, overflow) = start.addingReportingOverflow(Int64(limit) - 1)
        let end = min(to ?? Int64.max, overflow ? Int64.max : sum)
        let result = try connection.query(
            "SELECT position, payload, hash FROM events WHERE position >= $1 AND position <= $2 ORDER BY position",
            [.int(start), .int(end)], binaryResult: true)
        var events: [StoredEvent] = []
        events.reserveCapacity(result.rowCount)
        for row in 0..<result.rowCount { events.append(try Self.storedEvent(result, row)) }
        return events
    }

    /// Every event of one case, in position order.
    public func events(ofCase caseID: String) throws(StoreError) -> [StoredEvent] {
        let result = try connection.query(
            "SELECT position, payload, hash FROM events WHERE case_id = $1 ORDER BY position", [.text(caseID)], binaryResult: true)
        var events: [StoredEvent] = []
        events.reserveCapacity(result.rowCount)
        for row in 0..<result.rowCount { events.append(try Self.storedEvent(result, row)) }
        return events
    }

    /// An event of a binary result (so the payload's bytes and the hash come
    /// as they are stored, with no hex to undo).
    private static func storedEvent(_ result: PGResult, _ row: Int) throws(StoreError) -> StoredEvent {
        guard let position = result.binaryInt64(row, 0), let payload = result.bytes(row, 1), let hash = result.bytes(row, 2)
        else { throw StoreError(.corrupt, "unreadable events row") }
        return StoredEvent(position: position, payload: payload, hash: hash)
    }

    /// The result of ``verify(from:through:progress:)``.
    public enum Verification: Sendable, Equatable {
        /// Every event in range chained correctly: how many, the last position, its hash.
        case verified(count: Int64, last: Int64, hash: [UInt8])
        /// The first position where the chain does not hold, and why.
        case broken(position: Int64, reason: String)
    }

    /// Recomputes the chain over `from...to` from the payloads in the table,
    /// starting from the stored hash at `from - 1`, and compares every stored
    /// hash. It also checks that each row's own columns — `event_id`, `type`,
    /// `case_id`, `agent_id` and `content_digest` — say what its payload says,
    /// since queries select by them (a `case_id` edited in the column alone
    /// would hide an event from its case). Reports the first bad position: a
    /// payload, hash or column altered, or a gap. `progress` is called every
    /// `progressInterval` events. `witnesses` are positions whose recomputed
    /// hash the caller wants (to hold other records of the head against the
    /// chain); they are returned through `witnessed` when verified.
    public func verify(
        from: Int64 = 1, through to: Int64? = nil, progressInterval: Int64 = 100_000,
        witnesses: Set<Int64> = [], witnessed: (Int64, [UInt8]) -> Void = { _, _ in },
        progress: (Int64) -> Void = { _ in }
    ) throws -> Verification {
        let start = max(from, 1)
        guard var previous = try hash(at: start - 1) else {
            return .broken(position: start - 1, reason: "position \(start - 1) is not in the log")
        }
        var expected = start
        var count: Int64 = 0
        let last = to ?? Int64.max
        while expected <= last {
            let (sum, overflow) = expected.addingReportingOverflow(Int64(Self.defaultPageSize) - 1)
            let end = min(last, overflow ? Int64.max : sum)
            let rows = try connection.query(
                """
                SELECT position, payload, hash, event_id::text, type, case_id, agent_id, content_digest
                FROM events WHERE position >= $1 AND position <= $2 ORDER BY position
                """, [.int(expected), .int(end)], binaryResult: true)
            for row in 0..<rows.rowCount {
                let event = try Self.storedEvent(rows, row)
                guard event.position == expected else {
                    return .broken(position: expected, reason: "position \(expected) is missing (next is \(event.position))")
                }
                let computed = HashChain.next(after: previous, payload: event.payload)
                guard computed == event.hash else {
                    return .broken(
                        position: event.position,
                        reason: "stored hash \(Hex.encode(event.hash)) differs from the recomputed \(Hex.encode(computed))")
                }
                if let disagreement = try Self.columnsDisagree(rows, row, payload: event.payload) {
                    return .broken(position: event.position, reason: disagreement)
                }
                previous = computed
                if witnesses.contains(expected) { witnessed(expected, computed) }
                expected += 1
                count += 1
                if count % progressInterval == 0 { progress(count) }
            }
            if expected <= end {
                // A short page: the end of the log, or a gap.
                let beyond = try connection.query(
                    "SELECT min(position) FROM events WHERE position >= $1 AND position <= $2", [.int(expected), .int(last)])
                guard let resume = beyond.int64(0, 0) else { break }
                return .broken(position: expected, reason: "position \(expected) is missing (next is \(resume))")
            }
        }
        if let to, expected <= to {
            return .broken(position: expected, reason: "position \(expected) is not in the log")
        }
        return .verified(count: count, last: expected - 1, hash: previous)
    }

    /// Why a row's columns do not say what its payload says, or nil when they
    /// agree. `rows` is a binary result of the columns ``verify(from:through:progress:)`` selects.
    static func columnsDisagree(_ rows: PGResult, _ row: Int, payload: [UInt8]) throws -> String? {
        let recorded: RecordedEvent
        switch EventCodec.decodeRecorded(payload: payload) {
        case .success(let decoded): recorded = decoded
        case .failure(let rejection): return "the payload does not decode: \(rejection.message)"
        }
        let event = recorded.event
        guard let position = rows.binaryInt64(row, 0), recorded.position == position else {
            return "the payload says position \(recorded.position)"
        }
        var differing: [String] = []
        if rows.string(row, 3) != event.eventID.text { differing.append("event_id") }
        if rows.string(row, 4) != event.type.rawValue { differing.append("type") }
        if rows.string(row, 5) != event.caseID { differing.append("case_id") }
        if rows.string(row, 6) != event.agentID { differing.append("agent_id") }
        if rows.bytes(row, 7) != HashChain.digest(EventCodec.canonicalContent(of: event)) { differing.append("content_digest") }
        guard !differing.isEmpty else { return nil }
        return "the column\(differing.count == 1 ? "" : "s") \(differing.joined(separator: ", ")) differ\(differing.count == 1 ? "s" : "") from the payload"
    }
}
