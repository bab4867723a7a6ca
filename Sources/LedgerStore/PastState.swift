import RecoveryDomain

/// Reads the rows an answer needs as they stood right after an earlier
/// position (``PointInTime``): the rows as they are now, and the events up to
/// that position that touched the ones changed since, folded again. Run it in
/// one ``snapshot(at:_:)`` so the tables and the log agree.
public struct PastState {
    /// Refolding more events than this for one answer is refused: an `at=`
    /// far back in a long log is a replay, not a query.
    public static let defaultMaxEvents = 1_000_000

    /// Thrown when an answer would refold more than the limit.
    public struct TooFar: Error, CustomStringConvertible {
        public var position: Int64
        public var limit: Int
        public var description: String {
            "answering at=\(position) would fold more than \(limit) events again; ask at a later position, or REPLAY and fold the log yourself"
        }
    }

    /// Thrown when the position is past the log's head.
    public struct PastTheHead: Error, CustomStringConvertible {
        public var position: Int64
        public var head: Int64
        public var description: String { "position \(position) is past the head of the log (\(head))" }
    }

    public let connection: PGConnection
    public let configuration: LedgerConfiguration
    public let maxEvents: Int

    public init(connection: PGConnection, configuration: LedgerConfiguration, maxEvents: Int = defaultMaxEvents) {
        self.connection = connection
        self.configuration = configuration
        self.maxEvents = maxEvents
    }

    /// Runs `body` in one read-only repeatable-read transaction with the chain's
    /// head at `position` (its hash is the answer's `at_hash`).
    public func snapshot<T>(at position: Int64, _ body: (ChainHead) throws -> T) throws -> T {
        try connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        defer { if connection.isConnected { try? connection.execute("ROLLBACK") } }
        let reader = EventReader(connection: connection)
        guard let hash = try reader.hash(at: position) else { throw PastTheHead(position: position, head: try reader.head().position) }
        return try body(ChainHead(position: position, hash: hash))
    }

    /// One case at `position` with its events up to there; nil if it was not open yet.
    public func `case`(_ caseID: String, at position: Int64) throws -> (state: CaseState, events: [StoredEvent])? {
        guard let current = try Projections(connection: connection).cases([caseID])[caseID] else { return nil }
        let stored = try events(cases: [caseID], allowancesOf: [], through: position)
        let recorded = try stored.map(Self.decode)
        guard let past = PointInTime.case(current: current, events: recorded, at: position, configuration: configuration) else { return nil }
        return (past, stored)
    }

    /// `agentID`'s budget row of `day` at `position` (the empty row the day
    /// starts as, under the allowance of that time, when nothing was charged).
    public func budget(agentID: String, day: BusinessDay, at position: Int64) throws -> BudgetDay {
        let charged = try connection.query(
            "SELECT DISTINCT case_id FROM case_compensations WHERE charged_to = $1 AND day = $2::date",
            [.text(agentID), .text(day.description)])
        let cases = (0..<charged.rowCount).compactMap { charged.string($0, 0) }
        let folded = PointInTime.fold(
            try events(cases: cases, allowancesOf: [agentID], through: position).map(Self.decode), configuration: configuration)
        return folded.budget(for: agentID, on: day, configuration: configuration)
    }

    /// Every budget row of `day` at `position`, by person.
    public func budgets(on day: BusinessDay, at position: Int64) throws -> [(agentID: String, budget: BudgetDay)] {
        let charged = try connection.query(
            "SELECT DISTINCT case_id, charged_to FROM case_compensations WHERE day = $1::date", [.text(day.description)])
        let rows = (0..<charged.rowCount).compactMap { row in charged.string(row, 0).flatMap { c in charged.string(row, 1).map { (c, $0) } } }
        let people = Set(rows.map(\.1))
        let folded = PointInTime.fold(
            try events(cases: Set(rows.map(\.0)), allowancesOf: people, through: position).map(Self.decode), configuration: configuration)
        return folded.budgets.compactMap { $0.key.day == day && people.contains($0.key.agentID) ? (agentID: $0.key.agentID, budget: $0.value) : nil }
            .sorted { $0.agentID < $1.agentID }
    }

    /// The cases opened within `from`…`to` as they stood at `position`.
    public func cases(openedFrom from: BusinessDay?, to: BusinessDay?, at position: Int64) throws -> [CaseState] {
        let current = try Projections(connection: connection).cases(openedFrom: from, to: to)
        let changed = current.filter { $0.lastPosition > position }.map(\.caseID)
        let refolded = PointInTime.fold(
            try events(cases: changed, allowancesOf: [], through: position).map(Self.decode), configuration: configuration)
        return PointInTime.cases(current: current, refolded: refolded, at: position)
    }

    /// The events up to `position` of `cases`, and the allowance events of
    /// `people`, in position order; at most ``maxEvents``.
    private func events(cases: some Collection<String>, allowancesOf people: some Collection<String>, through position: Int64) throws -> [StoredEvent] {
        guard !cases.isEmpty || !people.isEmpty else { return [] }
        // One indexed part per kind of row (events_by_case, events_allowances;
        // an empty list costs one index probe): an OR of the two would scan the whole log.
        let rows = try connection.query(
            """
            SELECT position, payload, hash FROM events WHERE case_id = ANY($2::text[]) AND position <= $1
            UNION ALL
            SELECT position, payload, hash FROM events WHERE type = 'allowance' AND agent_id = ANY($3::text[]) AND position <= $1
            ORDER BY position LIMIT $4
            """,
            [.int(position), .text(Projections.arrayLiteral(cases)), .text(Projections.arrayLiteral(people)), .int(maxEvents + 1)])
        guard rows.rowCount <= maxEvents else { throw TooFar(position: position, limit: maxEvents) }
        return try (0..<rows.rowCount).map { row in
            guard let at = rows.int64(row, 0), let payload = rows.bytes(row, 1), let hash = try rows.bytea(row, 2) else {
                throw StoreError(.corrupt, "unreadable events row")
            }
            return StoredEvent(position: at, payload: payload, hash: hash)
        }
    }

    private static func decode(_ stored: StoredEvent) throws -> RecordedEvent {
        switch EventCodec.decodeRecorded(payload: stored.payload) {
        case .success(let recorded): return recorded
        case .failure(let rejection): throw StoreError(.corrupt, "the event at position \(stored.position) does not decode: \(rejection)")
        }
    }
}
