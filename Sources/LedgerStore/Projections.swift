import Foundation
import RecoveryDomain

/// Reads and writes the projection tables (schema/0002) from and to the
/// domain's ``LedgerState``. Writes go inside the writer's append transaction
/// (``EventLog/append(_:alsoWrite:)``), so the tables always match the log.
public struct Projections {
    public let connection: PGConnection

    public init(connection: PGConnection) { self.connection = connection }

    /// PostgreSQL accepts at most 65,535 parameters in one statement.
    static let maxParameters = 65_535

    // MARK: Writing

    /// Upserts the rows of these cases (with all their compensations), budget
    /// days and people's allowance settings.
    public func write(
        cases: some Collection<CaseState>, budgets: some Collection<(key: BudgetKey, value: BudgetDay)>,
        allowances: some Collection<(key: String, value: [AllowanceSetting])>
    ) throws {
        try upsert(
            table: "cases",
            columns: [
                "case_id", "customer_id", "channel", "category", "severity", "baseline", "owner_id", "opened_at",
                "opened_day", "status", "outcome", "steps", "first_apology_at", "resolved_at", "satisfaction",
                "would_recommend", "compensation_net", "last_position",
            ],
            casts: [:], key: ["case_id"],
            rows: cases.map { c in
                [
                    .text(c.caseID), .text(c.customerID), .text(c.channel.rawValue), .text(c.category), .int(c.severity),
                    c.baseline.map(PGParameter.int), .text(c.owner), .text(c.openedAt.description),
                    .text(c.openedDay.description), .text(c.status.rawValue), .text(c.outcome.rawValue),
                    .text("{" + c.steps.names.joined(separator: ",") + "}"), c.firstApologyAt.map { .text($0.description) },
                    c.resolvedAt.map { .text($0.description) }, c.satisfaction.map(PGParameter.int),
                    c.wouldRecommend.map(PGParameter.int), .int(c.compensationNet), .int(c.lastPosition),
                ]
            })
        try upsert(
            table: "case_compensations", columns: ["event_id", "case_id", "amount", "charged_to", "day", "reversed"],
            casts: [:], key: ["event_id"],
            rows: cases.flatMap { c in
                c.compensations.sorted { $0.key < $1.key }.map { id, entry in
                    [
                        .text(id.text), .text(c.caseID), .int(entry.amount), .text(entry.chargedTo),
                        .text(entry.day.description), .text(entry.reversed ? "true" : "false"),
                    ]
                }
            })
        try upsert(
            table: "budget_days", columns: ["agent_id", "day", "allowance", "spent", "compensations", "reversals"],
            casts: [:], key: ["agent_id", "day"],
            rows: budgets.map { key, row in
                [
                    .text(key.agentID), .text(key.day.description), .int(row.allowance), .int(row.spent),
                    .int(row.compensations), .int(row.reversals),
                ]
            })
        try upsert(
            table: "allowances", columns: ["agent_id", "since_day", "daily_limit", "role"], casts: [:],
            key: ["agent_id", "since_day"],
            rows: allowances.flatMap { agent, settings in
                settings.map { [.text(agent), .text($0.since.description), .int($0.dailyLimit), .text($0.role.rawValue)] }
            })
    }

    private func upsert(table: String, columns: [String], casts: [String: String], key: [String], rows: [[PGParameter?]]) throws {
        guard !rows.isEmpty else { return }
        let perStatement = Self.maxParameters / columns.count
        let updates = columns.filter { !key.contains($0) }.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        var offset = 0
        while offset < rows.count {
            let chunk = rows[offset..<min(offset + perStatement, rows.count)]
            var sql = "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES "
            var parameters: [PGParameter?] = []
            parameters.reserveCapacity(chunk.count * columns.count)
            for (index, row) in chunk.enumerated() {
                precondition(row.count == columns.count, "a row has one value per column")
                let base = index * columns.count
                sql += (index == 0 ? "(" : ",(") + (1...columns.count).map { "$\(base + $0)" }.joined(separator: ",") + ")"
                parameters += row
            }
            sql += " ON CONFLICT (\(key.joined(separator: ", "))) DO UPDATE SET \(updates)"
            try connection.query(sql, parameters)
            offset += chunk.count
        }
    }

    // MARK: Reading

    static let caseColumns = """
        case_id, customer_id, channel, category, severity, baseline, owner_id,
        to_char(opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), opened_day::text, status,
        steps::text, to_char(first_apology_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        to_char(resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), satisfaction, would_recommend,
        compensation_net, last_position
        """

    /// The cases named (those that exist), with their compensations.
    public func cases(_ ids: some Collection<String>) throws -> [String: CaseState] {
        guard !ids.isEmpty else { return [:] }
        return try loadCases(where: "case_id = ANY($1::text[])", [.text(Self.arrayLiteral(ids))])
    }

    /// Every case that is still open.
    public func openCases() throws -> [String: CaseState] { try loadCases(where: "status = 'open'", []) }

    /// Every case (for a rebuild check).
    public func allCases() throws -> [String: CaseState] { try loadCases(where: "true", []) }

    /// Cases whose complaint's business day lies in the range (for outcome reports).
    public func cases(openedFrom from: BusinessDay?, to: BusinessDay?) throws -> [CaseState] {
        Array(
            try loadCases(
                where: "($1::date IS NULL OR opened_day >= $1::date) AND ($2::date IS NULL OR opened_day <= $2::date)",
                [from.map { .text($0.description) }, to.map { .text($0.description) }]
            ).values)
    }

    private func loadCases(where condition: String, _ parameters: [PGParameter?]) throws -> [String: CaseState] {
        let rows = try connection.query("SELECT \(Self.caseColumns) FROM cases WHERE \(condition)", parameters)
        var cases: [String: CaseState] = [:]
        for row in 0..<rows.rowCount {
            guard let caseID = rows.string(row, 0), let channel = rows.string(row, 2).flatMap(Channel.init),
                let openedAt = rows.string(row, 7).flatMap({ Timestamp(rfc3339: $0) }),
                let openedDay = rows.string(row, 8).flatMap(BusinessDay.init),
                let status = rows.string(row, 9).flatMap(CaseState.Status.init)
            else { throw StoreError(.corrupt, "unreadable cases row") }
            let steps = Self.steps(rows.string(row, 10) ?? "{}")
            cases[caseID] = CaseState(
                caseID: caseID, customerID: rows.string(row, 1) ?? "", channel: channel, category: rows.string(row, 3) ?? "",
                severity: Int(rows.int64(row, 4) ?? 0), baseline: rows.int64(row, 5).map(Int.init), owner: rows.string(row, 6) ?? "",
                openedAt: openedAt, openedDay: openedDay, status: status, steps: steps,
                firstApologyAt: rows.string(row, 11).flatMap { Timestamp(rfc3339: $0) },
                resolvedAt: rows.string(row, 12).flatMap { Timestamp(rfc3339: $0) },
                satisfaction: rows.int64(row, 13).map(Int.init), wouldRecommend: rows.int64(row, 14).map(Int.init),
                compensationNet: rows.int64(row, 15) ?? 0, compensations: [:], lastPosition: rows.int64(row, 16) ?? 0)
        }
        guard !cases.isEmpty else { return cases }
        let entries = try connection.query(
            "SELECT event_id::text, case_id, amount, charged_to, day::text, reversed FROM case_compensations WHERE case_id = ANY($1::text[])",
            [.text(Self.arrayLiteral(cases.keys))])
        for row in 0..<entries.rowCount {
            guard let id = entries.string(row, 0).flatMap(EventID.init), let caseID = entries.string(row, 1),
                let amount = entries.int64(row, 2), let chargedTo = entries.string(row, 3),
                let day = entries.string(row, 4).flatMap(BusinessDay.init), let reversed = entries.bool(row, 5)
            else { throw StoreError(.corrupt, "unreadable case_compensations row") }
            cases[caseID]?.compensations[id] = CaseState.CompensationEntry(
                amount: amount, chargedTo: chargedTo, day: day, reversed: reversed)
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
            "SELECT agent_id, day::text, allowance, spent, compensations, reversals FROM budget_days WHERE \(condition)", parameters)
        var budgets: [BudgetKey: BudgetDay] = [:]
        for row in 0..<rows.rowCount {
            guard let agent = rows.string(row, 0), let day = rows.string(row, 1).flatMap(BusinessDay.init),
                let allowance = rows.int64(row, 2), let spent = rows.int64(row, 3), let count = rows.int64(row, 4),
                let reversals = rows.int64(row, 5)
            else { throw StoreError(.corrupt, "unreadable budget_days row") }
            budgets[BudgetKey(agentID: agent, day: day)] = BudgetDay(
                allowance: allowance, spent: spent, compensations: Int(count), reversals: Int(reversals))
        }
        return budgets
    }

    /// Every allowance setting, per person, oldest first.
    public func allowances() throws -> [String: [AllowanceSetting]] {
        let rows = try connection.query("SELECT agent_id, since_day::text, daily_limit, role FROM allowances ORDER BY agent_id, since_day")
        var settings: [String: [AllowanceSetting]] = [:]
        for row in 0..<rows.rowCount {
            guard let agent = rows.string(row, 0), let since = rows.string(row, 1).flatMap(BusinessDay.init),
                let limit = rows.int64(row, 2), let role = rows.string(row, 3).flatMap(StaffRole.init)
            else { throw StoreError(.corrupt, "unreadable allowances row") }
            settings[agent, default: []].append(AllowanceSetting(since: since, dailyLimit: limit, role: role))
        }
        return settings
    }

    /// The position and hash the projections reflect.
    public func checkpoint() throws -> ChainHead {
        let row = try connection.query("SELECT position, hash FROM ledger_checkpoint")
        guard row.rowCount == 1, let position = row.int64(0, 0), let hash = try row.bytea(0, 1) else {
            throw StoreError(.corrupt, "the ledger_checkpoint row is missing")
        }
        return ChainHead(position: position, hash: hash)
    }

    /// The working set the writer starts from: open cases, the budget rows of
    /// `day`, all allowance settings, and the checkpoint position.
    public func workingState(today day: BusinessDay) throws -> LedgerState {
        LedgerState(
            lastPosition: try checkpoint().position, cases: try openCases(), budgets: try budgets(on: day),
            allowances: try allowances())
    }

    /// Everything the tables hold, as one state (for `rebuild --check`).
    public func completeState() throws -> LedgerState {
        LedgerState(
            lastPosition: try checkpoint().position, cases: try allCases(), budgets: try budgets(on: nil),
            allowances: try allowances())
    }

    static func steps(_ text: String) -> MAMASteps {
        let names = text.trimmingCharacters(in: ["{", "}"]).split(separator: ",")
        var steps: MAMASteps = []
        for name in names {
            switch name {
            case "listened": steps.insert(.listened)
            case "acknowledged": steps.insert(.acknowledged)
            case "met": steps.insert(.met)
            case "followed_up": steps.insert(.followedUp)
            default: break
            }
        }
        return steps
    }

    /// A PostgreSQL array literal of identifiers, dates or UUIDs (none of which
    /// contain quotes, commas or braces: validated before they get here).
    static func arrayLiteral(_ values: some Collection<String>) -> String {
        "{" + values.map { "\"\($0)\"" }.joined(separator: ",") + "}"
    }
}
