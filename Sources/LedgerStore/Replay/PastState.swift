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
    public let maxEvents: Int

    public init(connection: PGConnection, maxEvents: Int = defaultMaxEvents) {
        self.connection = connection
        self.maxEvents = maxEvents
    }

    /// The state before the first position: the ledger's opening settings,
    /// which hold from there on (``LedgerState/init(opening:)``).
    private func start() throws -> LedgerState { LedgerState(opening: try EventReader(connection: connection).opening()) }

    /// The fold of `events` (a closure up to `position`, which always holds
    /// every `ledger_setting` event up to there) from ``start()``.
    private func fold(_ events: [StoredEvent]) throws -> LedgerState {
        PointInTime.fold(try events.map(EventReader.decode), from: try start())
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
        let recorded = try stored.map(EventReader.decode)
        guard let past = PointInTime.case(current: current, events: recorded, at: position, from: try start()) else { return nil }
        return (past, zip(stored, recorded).filter { $0.1.event.caseID == caseID }.map(\.0))
    }

    /// The cases whose compensations touch `day`'s budget rows (charged that
    /// day, or reversed that day), with the people charged.
    private func casesTouching(_ day: BusinessDay, of agentID: String?) throws -> [(caseID: String, person: String)] {
        let charged = try connection.query(
            """
            SELECT DISTINCT case_id, charged_to FROM case_compensations
            WHERE (day = $1::date OR reversed_day = $1::date) AND ($2::text IS NULL OR charged_to = $2)
            """, [.text(day.description), agentID.map(PGParameter.text)])
        return (0..<charged.rowCount).compactMap { row in charged.string(row, 0).flatMap { c in charged.string(row, 1).map { (c, $0) } } }
    }

    /// `agentID`'s budget row of `day` at `position` (the empty row the day
    /// starts as, under the allowance of that time, when nothing was charged).
    public func budget(agentID: String, day: BusinessDay, at position: Int64) throws -> BudgetDay {
        let cases = try casesTouching(day, of: agentID).map(\.caseID)
        return try fold(try events(cases: cases, allowancesOf: [agentID], through: position)).budget(for: agentID, on: day)
    }

    /// `day`'s budgets at `position` (``DayBudgets``: everyone with a row or
    /// an allowance setting of their own).
    public func budgets(on day: BusinessDay, at position: Int64) throws -> DayBudgets {
        let rows = try casesTouching(day, of: nil)
        let people = Set(try Projections(connection: connection).allowances().keys).union(rows.map(\.person))
        let folded = try fold(try events(cases: Set(rows.map(\.caseID)), allowancesOf: people, through: position))
        var dayRows: [String: BudgetDay] = [:]
        for (key, row) in folded.budgets where key.day == day && rows.contains(where: { $0.person == key.agentID }) {
            dayRows[key.agentID] = row
        }
        return DayBudgets(day: day, rows: dayRows, allowances: folded.allowances, settings: folded.settingsHistory)
    }

    /// The cases opened within `from`…`to` as they stood at `position`.
    public func cases(openedFrom from: BusinessDay?, to: BusinessDay?, at position: Int64) throws -> [CaseState] {
        let current = try Projections(connection: connection).cases(openedFrom: from, to: to)
        let changed = current.filter { $0.lastPosition > position }.map(\.caseID)
        let refolded = try fold(try events(cases: changed, allowancesOf: [], through: position))
        return PointInTime.cases(current: current, refolded: refolded, at: position)
    }

    /// The supervisors on `day` as recorded through `position`.
    public func supervisors(on day: BusinessDay, at position: Int64) throws -> [String] {
        let rows = try connection.query(
            "SELECT position, payload, hash FROM events WHERE type = 'allowance' AND position <= $1 ORDER BY position", [.int(position)],
            binaryResult: true)
        var events: [RecordedEvent] = []
        for row in 0..<rows.rowCount {
            guard let at = rows.binaryInt64(row, 0), let payload = rows.bytes(row, 1), let hash = rows.bytes(row, 2) else {
                throw StoreError(.corrupt, "unreadable events row")
            }
            events.append(try EventReader.decode(StoredEvent(position: at, payload: payload, hash: hash)))
        }
        let state = PointInTime.fold(events, from: try start())
        return state.allowances.keys.filter { state.role(of: $0, on: day) == .supervisor }.sorted()
    }

    /// The ledger's settings as recorded through `position`.
    public func settings(at position: Int64) throws -> SettingsHistory {
        PointInTime.fold(try EventReader(connection: connection).settings(through: position), from: try start()).settingsHistory
    }

    /// `SPENDING` as the ledger stood at `position`: the entries recorded by
    /// then; a row's allowance as it was (only the day of `position` can have
    /// changed since: the days before it are closed, none after it had entries).
    public func spending(from: BusinessDay, to: BusinessDay, by dimensions: [SpendingDimension], at position: Int64) throws -> [SpendingRow] {
        var rows = try Projections(connection: connection).spending(from: from, to: to, by: dimensions, through: position)
        guard dimensions.contains(.person) && dimensions.contains(.day), let head = try EventReader(connection: connection).recordedAt(position)
        else { return rows }
        let day = try settings(at: position).businessDay(of: head)
        for index in rows.indices where rows[index].key[.day] == day.description {
            guard let person = rows[index].key[.person] else { continue }
            rows[index].allowance = try budget(agentID: person, day: day, at: position).allowance
        }
        return rows
    }

    /// The events up to `position` of `cases`, the allowance events of
    /// `people` and every `ledger_setting` event, in position order; at most
    /// ``maxEvents``.
    private func events(cases: some Collection<String>, allowancesOf people: some Collection<String>, through position: Int64) throws -> [StoredEvent] {
        // One indexed part per kind of row (events_by_case, events_allowances,
        // events_settings; an empty list costs one index probe): an OR of them
        // would scan the whole log.
        let rows = try connection.query(
            """
            SELECT position, payload, hash FROM events WHERE case_id = ANY($2::text[]) AND position <= $1
            UNION ALL
            SELECT position, payload, hash FROM events WHERE type = 'allowance' AND agent_id = ANY($3::text[]) AND position <= $1
            UNION ALL
            SELECT position, payload, hash FROM events WHERE type = 'ledger_setting' AND position <= $1
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
}
