import Foundation
import RecoveryDomain

/// Reads and writes the projection tables (schema/0002 and later) from and to the
/// domain's ``LedgerState``. Writes go inside the writer's append transaction
/// (``EventLog/append(_:alsoWrite:)``), so the tables always match the log.
public struct Projections {
    /// The fold the rows are written by: raised when a change to the domain's
    /// fold changes what rows it writes. A writer that finds rows of an older
    /// version rebuilds them from the log at start (``Rebuild``).
    /// 2: settings as events, closed days, NPS from the last answer given.
    public static let version = 2

    public let connection: PGConnection

    public init(connection: PGConnection) { self.connection = connection }

    // MARK: Writing

    /// The statements that write the rows a batch changed, one upsert per
    /// table with each column as one array parameter: for a pipelined
    /// transaction (``EventLog/send(_:projections:)``). Throws a data error
    /// (SQLSTATE 22021) if a value holds a NUL.
    public static func statements(for delta: LedgerDelta) throws(StoreError) -> [PGStatement] {
        typealias Column = PGColumns.Column
        var statements: [PGStatement] = []
        var cases = PGColumns(
            table: "cases",
            columns: [
                Column("case_id", "text"), Column("customer_id", "text"), Column("channel", "text"), Column("category", "text"),
                Column("severity", "smallint"), Column("baseline", "smallint"), Column("owner_id", "text"),
                Column("opened_at", "timestamptz"), Column("opened_day", "date"), Column("status", "text"),
                Column("outcome", "text"), Column("steps", "text", { "string_to_array(\($0), ',')" }),
                Column("first_apology_at", "timestamptz"), Column("resolved_at", "timestamptz"),
                Column("satisfaction", "smallint"), Column("would_recommend", "smallint"),
                Column("compensation_net", "bigint"), Column("last_position", "bigint"),
                Column("follow_up_due", "timestamptz"), Column("follow_up_late", "boolean"), Column("prior_cases", "integer"),
            ],
            key: ["case_id"], rows: delta.cases.count)
        for c in delta.cases.values {
            cases.arrays[0].append(c.caseID)
            cases.arrays[1].append(c.customerID)
            cases.arrays[2].append(c.channel.rawValue)
            cases.arrays[3].append(c.category)
            cases.arrays[4].append(c.severity)
            cases.arrays[5].append(c.baseline)
            cases.arrays[6].append(c.owner)
            cases.arrays[7].append(c.openedAt)
            cases.arrays[8].append(c.openedDay)
            cases.arrays[9].append(c.status.rawValue)
            cases.arrays[10].append(c.outcome.rawValue)
            cases.arrays[11].append(c.steps.commaSeparated)
            cases.arrays[12].append(c.firstApologyAt)
            cases.arrays[13].append(c.resolvedAt)
            cases.arrays[14].append(c.satisfaction)
            cases.arrays[15].append(c.wouldRecommend)
            cases.arrays[16].append(c.compensationNet)
            cases.arrays[17].append(c.lastPosition)
            cases.arrays[18].append(c.followUpDue)
            cases.arrays[19].append(c.followUpLate)
            cases.arrays[20].append(c.priorCases)
            cases.endRow()
        }
        // follow_ups_due follows each changed case: a row while it awaits its
        // first follow-up, none once it does not (a case that never had a
        // deadline never had a row: nothing to delete).
        var due = PGColumns(
            table: "follow_ups_due", columns: [Column("case_id", "text"), Column("due", "timestamptz")], key: ["case_id"],
            rows: delta.cases.count, onlyWhenChanged: true)
        var settled = PGBinaryArray(.text)
        var settledCount = 0
        for c in delta.cases.values {
            if let deadline = c.awaitsFollowUpBy {
                due.arrays[0].append(c.caseID)
                due.arrays[1].append(deadline)
                due.endRow()
            } else if c.followUpDue != nil {
                settled.append(c.caseID)
                settledCount += 1
            }
        }
        var compensations = PGColumns(
            table: "case_compensations",
            columns: [
                Column("event_id", "uuid"), Column("case_id", "text"), Column("amount", "bigint"), Column("charged_to", "text"),
                Column("day", "date"), Column("reversed", "boolean"), Column("recorded_by", "text"), Column("position", "bigint"),
                Column("cap_override", "boolean"), Column("reversed_day", "date"), Column("reversed_position", "bigint"),
            ],
            key: ["event_id"], rows: delta.compensations.count)
        for c in delta.compensationEntries {
            compensations.arrays[0].append(c.eventID)
            compensations.arrays[1].append(c.caseID)
            compensations.arrays[2].append(c.entry.amount)
            compensations.arrays[3].append(c.entry.chargedTo)
            compensations.arrays[4].append(c.entry.day)
            compensations.arrays[5].append(c.entry.reversed)
            compensations.arrays[6].append(c.entry.recordedBy)
            compensations.arrays[7].append(c.entry.position)
            compensations.arrays[8].append(c.entry.isOverride)
            compensations.arrays[9].append(c.entry.reversedDay)
            compensations.arrays[10].append(c.entry.reversedPosition)
            compensations.endRow()
        }
        var budgets = PGColumns(
            table: "budget_days",
            columns: [
                Column("agent_id", "text"), Column("day", "date"), Column("allowance", "bigint"), Column("spent", "bigint"),
                Column("compensations", "integer"), Column("reversals", "integer"), Column("late_reversals", "integer"),
                Column("late_reversed", "bigint"),
            ],
            key: ["agent_id", "day"], rows: delta.budgets.count)
        for (key, row) in delta.budgets {
            budgets.arrays[0].append(key.agentID)
            budgets.arrays[1].append(key.day)
            budgets.arrays[2].append(row.allowance)
            budgets.arrays[3].append(row.spent)
            budgets.arrays[4].append(row.compensations)
            budgets.arrays[5].append(row.reversals)
            budgets.arrays[6].append(row.lateReversals)
            budgets.arrays[7].append(row.lateReversed)
            budgets.endRow()
        }
        var allowances = PGColumns(
            table: "allowances",
            columns: [Column("agent_id", "text"), Column("since_day", "date"), Column("daily_limit", "bigint"), Column("role", "text")],
            key: ["agent_id", "since_day"], rows: delta.allowances.count)
        for (agentID, settings) in delta.allowances {
            for setting in settings {
                allowances.arrays[0].append(agentID)
                allowances.arrays[1].append(setting.since)
                allowances.arrays[2].append(setting.dailyLimit)
                allowances.arrays[3].append(setting.role.rawValue)
                allowances.endRow()
            }
        }
        var customers = PGColumns(
            table: "customer_days",
            columns: [Column("customer_id", "text"), Column("day", "date"), Column("spent", "bigint")],
            key: ["customer_id", "day"], rows: delta.customerDays.count)
        for (key, spent) in delta.customerDays {
            customers.arrays[0].append(key.customerID)
            customers.arrays[1].append(key.day)
            customers.arrays[2].append(spent)
            customers.endRow()
        }
        let newSettings = delta.settingsHistory?.changes(after: delta.basePosition) ?? []
        var settings = PGColumns(
            table: "setting_changes",
            columns: [Column("position", "bigint"), Column("name", "text"), Column("since_day", "date"), Column("value", "text")],
            key: ["position"], rows: newSettings.count)
        for change in newSettings {
            settings.arrays[0].append(change.position)
            settings.arrays[1].append(change.name.rawValue)
            settings.arrays[2].append(change.since)
            settings.arrays[3].append(Self.text(of: change.value))
            settings.endRow()
        }
        for var table in [cases, due, compensations, budgets, allowances, customers, settings] where table.rows > 0 {
            if let (sqlState, message) = table.invalid { throw StoreError(.server, sqlState: sqlState, message) }
            statements.append(table.statement())
        }
        if settledCount > 0 {
            if settled.containsNUL { throw StoreError(.server, sqlState: "22021", "a value for follow_ups_due holds a NUL character") }
            statements.append(
                PGStatement(Self.deleteSettledSQL, prepared: "recoveryd_delete_follow_ups_due", [settled.parameter()]))
        }
        return statements
    }

    /// Writes the rows a batch changed.
    public func write(_ delta: LedgerDelta) throws {
        try write(
            cases: delta.cases.values, compensations: delta.compensationEntries,
            budgets: delta.budgets.map { (key: $0.key, value: $0.value) },
            allowances: delta.allowances.map { (key: $0.key, value: $0.value) },
            customerDays: delta.customerDays.map { (key: $0.key, value: $0.value) })
    }

    /// Writes every row of `state` (a rebuild's, or a test's), as upserts.
    public func write(everything state: LedgerState) throws {
        try write(
            cases: Array(state.cases.values),
            compensations: state.cases.values.flatMap { c in c.compensations.map { (caseID: c.caseID, eventID: $0.key, entry: $0.value) } },
            budgets: state.budgets.map { ($0.key, $0.value) }, allowances: state.allowances.map { ($0.key, $0.value) },
            customerDays: state.customerDays.map { ($0.key, $0.value) }, settings: state.settingsHistory.changes)
    }

    /// Copies every row of `state` straight into the projection tables, which
    /// must be empty (``Rebuild/write(_:through:)`` truncates them in the same
    /// transaction): no staging table and no conflict checks. Each table is
    /// one `COPY` whose rows are written while they are sent, `chunk` rows a
    /// part (``PGConnection/copyIn(_:produce:)``): PostgreSQL takes in one
    /// part while the next is made, so both cores work, and memory holds a
    /// few parts, however many rows there are.
    public func load(everything state: LedgerState, chunk: Int = 20_000) throws {
        try stream(ProjectionTable.cases, state.cases.values, chunk: chunk)
        try stream(ProjectionTable.followUpsDue, state.cases.values.lazy.compactMap { c in c.awaitsFollowUpBy.map { (c.caseID, $0) } }, chunk: chunk)
        try stream(
            ProjectionTable.compensations,
            state.cases.values.lazy.flatMap { c in c.compensations.lazy.map { (caseID: c.caseID, eventID: $0.key, entry: $0.value) } },
            chunk: chunk)
        try stream(ProjectionTable.budgets, state.budgets.lazy.map { (key: $0.key, value: $0.value) }, chunk: chunk)
        try stream(
            ProjectionTable.allowances, state.allowances.lazy.flatMap { agent, settings in settings.lazy.map { (agent, $0) } }, chunk: chunk)
        try stream(ProjectionTable.customerDays, state.customerDays.lazy.map { (key: $0.key, value: $0.value) }, chunk: chunk)
        try stream(ProjectionTable.settings, state.settingsHistory.changes, chunk: chunk)
    }

    /// Upserts the rows of these cases, these compensation entries (the writer
    /// passes only the ones its batch added or reversed), budget days and
    /// people's allowance settings.
    public func write(
        cases: some Collection<CaseState>,
        compensations: some Collection<(caseID: String, eventID: EventID, entry: CaseState.CompensationEntry)>,
        budgets: some Collection<(key: BudgetKey, value: BudgetDay)>,
        allowances: some Collection<(key: String, value: [AllowanceSetting])>,
        customerDays: some Collection<(key: CustomerDayKey, value: Int64)> = [(key: CustomerDayKey, value: Int64)](),
        settings: [SettingChange] = []
    ) throws {
        try upsert(ProjectionTable.cases, cases)
        try upsert(ProjectionTable.followUpsDue, cases.compactMap { c in c.awaitsFollowUpBy.map { (c.caseID, $0) } })
        let settled = cases.filter { $0.followUpDue != nil && $0.awaitsFollowUpBy == nil }.map(\.caseID)
        if !settled.isEmpty { try connection.query(Self.deleteSettledSQL, [.text(Self.arrayLiteral(settled))]) }
        try upsert(ProjectionTable.compensations, compensations.sorted { $0.eventID < $1.eventID })
        try upsert(ProjectionTable.budgets, budgets)
        try upsert(ProjectionTable.allowances, allowances.flatMap { agent, settings in settings.map { (agent, $0) } })
        try upsert(ProjectionTable.customerDays, customerDays)
        try upsert(ProjectionTable.settings, settings)
    }

    /// Removes the `follow_ups_due` rows of cases that no longer await a follow-up.
    static let deleteSettledSQL = "DELETE FROM follow_ups_due WHERE case_id = ANY($1::text[])"

    /// A setting's value as the `setting_changes` table keeps it.
    static func text(of value: SettingValue) -> String? {
        switch value {
        case .integer(let number): String(number)
        case .text(let text): text
        case .none: nil
        }
    }

    /// Upserts `rows` through a temporary staging table: the rows go by COPY
    /// (no per-value parameter parsing), then one `INSERT … SELECT … ON
    /// CONFLICT` moves them. The staging rows vanish at COMMIT. (Measured: a
    /// multi-row parameterised upsert took over half of the writer's commit time.)
    private func upsert<Row>(_ table: ProjectionTable<Row>, _ rows: some Collection<Row>) throws {
        guard !rows.isEmpty else { return }
        let staging = "\(table.name)_staging"
        let list = table.columns.joined(separator: ", ")
        if !connection.sessionObjects.contains(staging) {
            try connection.execute(
                "CREATE TEMP TABLE IF NOT EXISTS \(staging) (LIKE \(table.name) INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            connection.sessionObjects.insert(staging)
        }
        var data: [UInt8] = []
        data.reserveCapacity(rows.count * table.columns.count * 16)
        for row in rows { table.append(row, to: &data) }
        try connection.copyIn("COPY \(staging) (\(list)) FROM STDIN", data: data)
        let updates = table.columns.filter { !table.key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        try connection.query(
            "INSERT INTO \(table.name) (\(list)) SELECT \(list) FROM \(staging) ON CONFLICT (\(table.key.joined(separator: ", "))) DO UPDATE SET \(updates)")
    }

    /// Copies `rows` straight into `table` (which holds none of their keys)
    /// with one streamed `COPY`, `chunk` rows a part.
    private func stream<Row>(_ table: ProjectionTable<Row>, _ rows: some Sequence<Row>, chunk: Int) throws {
        var iterator = rows.makeIterator()
        guard var next = iterator.next() else { return }
        try connection.copyIn("COPY \(table.name) (\(table.columns.joined(separator: ", "))) FROM STDIN") {
            (data: inout [UInt8]) throws(StoreError) -> Bool in
            for _ in 0..<chunk {
                table.append(next, to: &data)
                guard let row = iterator.next() else { return false }
                next = row
            }
            return true
        }
    }

    // MARK: Reading

    static let caseColumns = """
        case_id, customer_id, channel, category, severity, baseline, owner_id,
        to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), opened_day::text, status,
        steps::text, to_char(first_apology_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), satisfaction, would_recommend,
        compensation_net, last_position, to_char(follow_up_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        follow_up_late, prior_cases
        """

    /// The cases named (those that exist), with their compensations.
    public func cases(_ ids: some Collection<String>) throws -> [String: CaseState] {
        guard !ids.isEmpty else { return [:] }
        return try loadCases(where: "case_id = ANY($1::text[])", [.text(Self.arrayLiteral(ids))])
    }

    /// Every case that is still open.
    public func openCases() throws -> [String: CaseState] { try loadCases(where: "status = 'open'", []) }

    /// Every case (for a rebuild check).
    /// Their compensations are read whole too, not named one case at a time
    /// in an array of millions.
    public func allCases() throws -> [String: CaseState] { try loadCases(where: "true", [], everyCase: true) }

    /// Cases whose complaint's business day lies in the range (for outcome reports).
    public func cases(openedFrom from: BusinessDay?, to: BusinessDay?) throws -> [CaseState] {
        Array(
            try loadCases(
                where: "($1::date IS NULL OR opened_day >= $1::date) AND ($2::date IS NULL OR opened_day <= $2::date)",
                [from.map { .text($0.description) }, to.map { .text($0.description) }]
            ).values)
    }

    /// Cases matching `search`, newest first (recorded day, then `opened_at`,
    /// then `case_id`, all descending), at most its limit; and whether more follow.
    public func cases(matching filter: CaseSearch) throws -> (cases: [CaseState], more: Bool) {
        let limit = filter.limit
        let found = try loadCases(
            where: """
                ($1::text IS NULL OR customer_id = $1) AND ($2::text IS NULL OR owner_id = $2) AND ($3::text IS NULL OR status = $3)
                AND ($4::date IS NULL OR opened_day >= $4::date) AND ($5::date IS NULL OR opened_day <= $5::date)
                AND ($6::text IS NULL OR (opened_day, opened_at, case_id) <
                    (SELECT opened_day, opened_at, case_id FROM cases WHERE case_id = $6))
                ORDER BY opened_day DESC, opened_at DESC, case_id DESC LIMIT $7
                """,
            [
                filter.customerID.map(PGParameter.text), filter.owner.map(PGParameter.text), filter.status.map { .text($0.rawValue) },
                filter.from.map { .text($0.description) }, filter.to.map { .text($0.description) }, filter.after.map(PGParameter.text),
                .int(limit + 1),
            ], ordered: true)
        return (Array(found.prefix(limit)), found.count > limit)
    }

    /// The recorded days of these customers' complaints, oldest first (a
    /// customer with none gets an empty list). All of them: the repeat window
    /// is a setting, and a longer one may reach further back.
    public func complaintDays(of customers: some Collection<String>) throws -> [String: [BusinessDay]] {
        var days = Dictionary(uniqueKeysWithValues: customers.map { ($0, [BusinessDay]()) })
        guard !customers.isEmpty else { return days }
        let rows = try connection.query(
            "SELECT customer_id, opened_day::text FROM cases WHERE customer_id = ANY($1::text[]) ORDER BY opened_day",
            [.text(Self.arrayLiteral(customers))])
        for row in 0..<rows.rowCount {
            guard let customer = rows.string(row, 0), let day = rows.day(row, 1) else {
                throw Self.unreadable("cases", key: "customer_id \(rows.string(row, 0) ?? "NULL")")
            }
            days[customer, default: []].append(day)
        }
        return days
    }

    /// Open cases not followed up yet whose follow-up is due by `by`, of
    /// `owner` or everyone, oldest deadline first (at most `limit`).
    public func casesDue(by deadline: Timestamp, owner: String?, limit: Int = 1_000) throws -> [CaseState] {
        // follow_ups_due by deadline (its index), then those cases' rows.
        try loadCases(
            where: """
                case_id = ANY(ARRAY(
                    SELECT d.case_id FROM follow_ups_due d JOIN cases o USING (case_id)
                    WHERE d.due <= $1::timestamptz AND ($2::text IS NULL OR o.owner_id = $2)
                    ORDER BY d.due, d.case_id LIMIT $3))
                ORDER BY follow_up_due, case_id
                """,
            [.text(deadline.description), owner.map(PGParameter.text), .int(limit)], ordered: true)
    }

    private func loadCases(where condition: String, _ parameters: [PGParameter?], everyCase: Bool = false) throws -> [String: CaseState] {
        let cases = try loadCases(where: condition, parameters, ordered: false, everyCase: everyCase)
        var byID: [String: CaseState] = [:]
        byID.reserveCapacity(cases.count)
        for c in cases { byID[c.caseID] = c }
        return byID
    }

    /// The cases in the order the query gives (`condition` may end in ORDER BY and LIMIT).
    /// With `everyCase`, `condition` selects every case, and their
    /// compensations are read without naming the cases.
    private func loadCases(where condition: String, _ parameters: [PGParameter?], ordered: Bool, everyCase: Bool = false) throws -> [CaseState] {
        let rows = try connection.query("SELECT \(Self.caseColumns) FROM cases WHERE \(condition)", parameters)
        var cases: [CaseState] = []
        var index: [String: Int] = [:]
        cases.reserveCapacity(rows.rowCount)
        index.reserveCapacity(rows.rowCount)
        for row in 0..<rows.rowCount {
            guard let caseID = rows.string(row, 0), let channel = rows.string(row, 2).flatMap(Channel.init),
                let openedAt = rows.timestamp(row, 7),
                let openedDay = rows.day(row, 8),
                let status = rows.string(row, 9).flatMap(CaseState.Status.init)
            else { throw Self.unreadable("cases", key: "case_id \(rows.string(row, 0) ?? "NULL")") }
            let steps = rows.isNull(row, 10) ? [] : rows.withUTF8(row, 10, Self.steps)
            index[caseID] = cases.count
            cases.append(CaseState(
                caseID: caseID, customerID: rows.string(row, 1) ?? "", channel: channel, category: rows.string(row, 3) ?? "",
                severity: Int(rows.int64(row, 4) ?? 0), baseline: rows.int64(row, 5).map(Int.init), owner: rows.string(row, 6) ?? "",
                openedAt: openedAt, openedDay: openedDay, status: status, steps: steps,
                firstApologyAt: rows.timestamp(row, 11),
                resolvedAt: rows.timestamp(row, 12),
                satisfaction: rows.int64(row, 13).map(Int.init), wouldRecommend: rows.int64(row, 14).map(Int.init),
                compensationNet: rows.int64(row, 15) ?? 0, compensations: [:], lastPosition: rows.int64(row, 16) ?? 0,
                followUpDue: rows.timestamp(row, 17), followUpLate: rows.bool(row, 18),
                priorCases: Int(rows.int64(row, 19) ?? 0)))
        }
        guard !cases.isEmpty else { return cases }
        let entries = try connection.query(
            """
            SELECT event_id::text, case_id, amount, charged_to, day::text, recorded_by, position, cap_override,
                reversed_day::text, reversed_position
            FROM case_compensations WHERE \(everyCase ? "true" : "case_id = ANY($1::text[])")
            """,
            everyCase ? [] : [.text(Self.arrayLiteral(index.keys))])
        for row in 0..<entries.rowCount {
            guard let id = entries.string(row, 0).flatMap(EventID.init), let caseID = entries.string(row, 1),
                let amount = entries.int64(row, 2), let chargedTo = entries.string(row, 3),
                let day = entries.day(row, 4), let recordedBy = entries.string(row, 5), let position = entries.int64(row, 6),
                let isOverride = entries.bool(row, 7)
            else { throw Self.unreadable("case_compensations", key: "event_id \(entries.string(row, 0) ?? "NULL")") }
            if let at = index[caseID] {
                cases[at].compensations[id] = CaseState.CompensationEntry(
                    amount: amount, chargedTo: chargedTo, day: day, recordedBy: recordedBy, position: position, isOverride: isOverride,
                    reversedDay: entries.day(row, 8), reversedPosition: entries.int64(row, 9))
            }
        }
        return cases
    }

    /// Budget rows for these keys (those that exist).
    public func budgets(_ keys: some Collection<BudgetKey>) throws -> [BudgetKey: BudgetDay] {
        guard !keys.isEmpty else { return [:] }
        return try loadBudgets(
            where: "(agent_id, day) IN (SELECT * FROM unnest($1::text[], $2::date[]))",
            [.text(Self.arrayLiteral(keys.map(\.agentID))), .text(Self.arrayLiteral(keys.map(\.day.description)))])
    }

    /// Every budget row of one day, or all of them (`nil`).
    public func budgets(on day: BusinessDay?) throws -> [BudgetKey: BudgetDay] {
        try loadBudgets(where: "($1::date IS NULL OR day = $1::date)", [day.map { .text($0.description) }])
    }

    private func loadBudgets(where condition: String, _ parameters: [PGParameter?]) throws -> [BudgetKey: BudgetDay] {
        let rows = try connection.query(
            """
            SELECT agent_id, day::text, allowance, spent, compensations, reversals, late_reversals, late_reversed
            FROM budget_days WHERE \(condition)
            """, parameters)
        var budgets: [BudgetKey: BudgetDay] = [:]
        budgets.reserveCapacity(rows.rowCount)
        for row in 0..<rows.rowCount {
            guard let agent = rows.string(row, 0), let day = rows.day(row, 1),
                let allowance = rows.int64(row, 2), let spent = rows.int64(row, 3), let count = rows.int64(row, 4),
                let reversals = rows.int64(row, 5), let lateReversals = rows.int64(row, 6), let lateReversed = rows.int64(row, 7)
            else { throw Self.unreadable("budget_days", key: "agent_id \(rows.string(row, 0) ?? "NULL"), day \(rows.string(row, 1) ?? "NULL")") }
            budgets[BudgetKey(agentID: agent, day: day)] = BudgetDay(
                allowance: allowance, spent: spent, compensations: Int(count), reversals: Int(reversals),
                lateReversals: Int(lateReversals), lateReversed: lateReversed)
        }
        return budgets
    }

    /// A projection row that cannot be read, named by table and key, with
    /// what to do: the tables are derived from the log and can be rebuilt.
    static func unreadable(_ table: String, key: String) -> StoreError {
        StoreError(
            .corrupt,
            "the \(table) row of \(key) cannot be read; the projection tables are derived from the log: stop recoveryd, check with `recoveryd rebuild --check`, and rebuild them with `recoveryd rebuild --write`"
        )
    }

    /// Customers' compensation totals: of one day, or all of them (`nil`).
    public func customerDays(on day: BusinessDay?) throws -> [CustomerDayKey: Int64] {
        try loadCustomerDays(where: "($1::date IS NULL OR day = $1::date)", [day.map { .text($0.description) }])
    }

    /// These customers' day totals (those that exist).
    public func customerDays(_ keys: some Collection<CustomerDayKey>) throws -> [CustomerDayKey: Int64] {
        guard !keys.isEmpty else { return [:] }
        return try loadCustomerDays(
            where: "(customer_id, day) IN (SELECT * FROM unnest($1::text[], $2::date[]))",
            [.text(Self.arrayLiteral(keys.map(\.customerID))), .text(Self.arrayLiteral(keys.map(\.day.description)))])
    }

    private func loadCustomerDays(where condition: String, _ parameters: [PGParameter?]) throws -> [CustomerDayKey: Int64] {
        let rows = try connection.query("SELECT customer_id, day::text, spent FROM customer_days WHERE \(condition)", parameters)
        var days: [CustomerDayKey: Int64] = [:]
        days.reserveCapacity(rows.rowCount)
        for row in 0..<rows.rowCount {
            guard let customer = rows.string(row, 0), let day = rows.day(row, 1), let spent = rows.int64(row, 2)
            else { throw Self.unreadable("customer_days", key: "customer_id \(rows.string(row, 0) ?? "NULL"), day \(rows.string(row, 1) ?? "NULL")") }
            days[CustomerDayKey(customerID: customer, day: day)] = spent
        }
        return days
    }

    /// Everyone with a budget row (a charge or an allowance change on some day).
    public func peopleWithBudgetRows() throws -> Set<String> {
        let rows = try connection.query("SELECT DISTINCT agent_id FROM budget_days")
        return Set((0..<rows.rowCount).compactMap { rows.string($0, 0) })
    }

    /// Every allowance setting, per person, oldest first.
    public func allowances() throws -> [String: [AllowanceSetting]] {
        let rows = try connection.query("SELECT agent_id, since_day::text, daily_limit, role FROM allowances ORDER BY agent_id, since_day")
        var settings: [String: [AllowanceSetting]] = [:]
        for row in 0..<rows.rowCount {
            guard let agent = rows.string(row, 0), let since = rows.day(row, 1), let role = rows.string(row, 3).flatMap(StaffRole.init),
                rows.isNull(row, 2) || rows.int64(row, 2) != nil
            else { throw Self.unreadable("allowances", key: "agent_id \(rows.string(row, 0) ?? "NULL"), since_day \(rows.string(row, 1) ?? "NULL")") }
            settings[agent, default: []].append(AllowanceSetting(since: since, dailyLimit: rows.int64(row, 2), role: role))
        }
        return settings
    }

    /// The ledger's settings as its `ledger_setting` events recorded them.
    public func settingsHistory() throws -> SettingsHistory {
        let rows = try connection.query("SELECT position, name, since_day::text, value FROM setting_changes ORDER BY position")
        var changes: [SettingChange] = []
        for row in 0..<rows.rowCount {
            guard let position = rows.int64(row, 0), let name = rows.string(row, 1).flatMap(SettingName.init),
                let since = rows.day(row, 2)
            else { throw Self.unreadable("setting_changes", key: "position \(rows.string(row, 0) ?? "NULL")") }
            let value: SettingValue =
                switch (name, rows.string(row, 3)) {
                case (_, nil): .none
                case (.currency, let text?), (.timeZone, let text?): .text(text)
                case (_, let text?): try Int64(text).map(SettingValue.integer)
                    ?? { throw Self.unreadable("setting_changes", key: "position \(position)") }()
                }
            changes.append(SettingChange(name: name, value: value, since: since, position: position))
        }
        return SettingsHistory(changes: changes)
    }

    /// The fold version that wrote the rows (``version``).
    public func storedVersion() throws -> Int {
        let row = try connection.query("SELECT projection_version FROM ledger_checkpoint")
        guard row.rowCount == 1, let version = row.int64(0, 0) else { throw StoreError(.corrupt, "the ledger_checkpoint row is missing") }
        return Int(version)
    }

    /// The position and hash the projections reflect.
    public func checkpoint() throws -> ChainHead {
        let row = try connection.query("SELECT position, hash FROM ledger_checkpoint")
        guard row.rowCount == 1, let position = row.int64(0, 0), let hash = try row.bytea(0, 1) else {
            throw StoreError(.corrupt, "the ledger_checkpoint row is missing")
        }
        return ChainHead(position: position, hash: hash)
    }

    /// The working set the writer starts from: the ledger's settings, the
    /// budget rows of the day `now` is in, all allowance settings, and the
    /// checkpoint position. No cases: the writer
    /// reads a case when an append first names it (``cases(_:)``), so start-up
    /// does not grow with the number of open cases, nor memory with cases no
    /// one touches.
    public func workingState(now: Timestamp) throws -> LedgerState {
        let settings = try settingsHistory()
        let day = settings.businessDay(of: now)
        var state = LedgerState(
            lastPosition: try checkpoint().position, budgets: try budgets(on: day), allowances: try allowances(), settingsHistory: settings)
        state.customerDays = try customerDays(on: day)
        return state
    }

    /// Everything the tables hold, as one state (for `rebuild --check`).
    public func completeState() throws -> LedgerState {
        var state = LedgerState(
            lastPosition: try checkpoint().position, cases: try allCases(), budgets: try budgets(on: nil),
            allowances: try allowances(), settingsHistory: try settingsHistory())
        state.customerDays = try customerDays(on: nil)
        return state
    }

    /// Every row of `follow_ups_due`: case, deadline (for `rebuild --check`).
    public func followUpsDue() throws -> [String: Timestamp] {
        let rows = try connection.query(
            #"SELECT case_id, to_char(due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM follow_ups_due"#)
        var due: [String: Timestamp] = [:]
        due.reserveCapacity(rows.rowCount)
        for row in 0..<rows.rowCount {
            guard let caseID = rows.string(row, 0), let deadline = rows.timestamp(row, 1) else {
                throw Self.unreadable("follow_ups_due", key: "case_id \(rows.string(row, 0) ?? "NULL")")
            }
            due[caseID] = deadline
        }
        return due
    }

    /// The steps of a `text[]` column such as `{listened,met}` (names
    /// PostgreSQL never quotes); a name not known is skipped.
    static func steps(_ bytes: UnsafeBufferPointer<UInt8>) -> MAMASteps {
        var steps: MAMASteps = []
        for name in bytes.split(whereSeparator: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "{") || $0 == UInt8(ascii: "}") }) {
            switch name.count {
            case 8 where name.elementsEqual("listened".utf8): steps.insert(.listened)
            case 12 where name.elementsEqual("acknowledged".utf8): steps.insert(.acknowledged)
            case 3 where name.elementsEqual("met".utf8): steps.insert(.met)
            case 11 where name.elementsEqual("followed_up".utf8): steps.insert(.followedUp)
            default: break
            }
        }
        return steps
    }

    /// A PostgreSQL array literal of `values`, each quoted and escaped.
    static func arrayLiteral(_ values: some Collection<String>) -> String {
        var array = PGTextArray()
        for value in values { array.append(value) }
        return array.literal
    }
}
