import RecoveryDomain

/// Compensation over a range of business days, grouped (`SPENDING`): what
/// finance's report reads, from the projection tables and the compensations'
/// own events (for `kind`), never by replaying the log.
public struct SpendingRow: Sendable, Equatable {
    /// The group's key, one value per dimension asked for.
    public var key: [SpendingDimension: String]
    /// Compensations charged in the group, and how many of them were reversed since.
    public var compensations: Int64
    public var reversals: Int64
    /// Amount of all of them, and of those not reversed (minor units).
    public var gross: Int64
    public var net: Int64
    /// The person's allowance that day, when grouped by person and day.
    public var allowance: Int64?
}

extension Projections {
    /// The longest range `SPENDING` answers at once.
    public static let maximumSpendingDays = 366

    public func spending(from: BusinessDay, to: BusinessDay, by dimensions: [SpendingDimension]) throws -> [SpendingRow] {
        let expressions: [SpendingDimension: String] = [
            .person: "cc.charged_to", .day: "cc.day::text", .kind: "(e.payload::jsonb ->> 'kind')", .category: "c.category",
        ]
        let keys = dimensions.map { expressions[$0]! }
        let withAllowance = dimensions.contains(.person) && dimensions.contains(.day)
        var sql = "SELECT " + (keys + [
            "count(*)", "count(*) FILTER (WHERE cc.reversed)", "COALESCE(sum(cc.amount), 0)",
            "COALESCE(sum(cc.amount) FILTER (WHERE NOT cc.reversed), 0)", withAllowance ? "max(b.allowance)" : "NULL::bigint",
        ]).joined(separator: ", ")
        sql += " FROM case_compensations cc JOIN cases c ON c.case_id = cc.case_id"
        if dimensions.contains(.kind) { sql += " JOIN events e ON e.event_id = cc.event_id" }
        if withAllowance { sql += " LEFT JOIN budget_days b ON b.agent_id = cc.charged_to AND b.day = cc.day" }
        sql += " WHERE cc.day BETWEEN $1::date AND $2::date"
        if !keys.isEmpty {
            let positions = (1...keys.count).map(String.init).joined(separator: ", ")
            sql += " GROUP BY \(positions) ORDER BY \(positions)"
        }
        let rows = try connection.query(sql, [.text(from.description), .text(to.description)])
        return try (0..<rows.rowCount).map { row in
            var key: [SpendingDimension: String] = [:]
            for (column, dimension) in dimensions.enumerated() { key[dimension] = rows.string(row, column) ?? "" }
            let base = dimensions.count
            guard let count = rows.int64(row, base), let reversals = rows.int64(row, base + 1), let gross = rows.int64(row, base + 2),
                let net = rows.int64(row, base + 3)
            else { throw Self.unreadable("case_compensations", key: "the spending of \(key)") }
            return SpendingRow(
                key: key, compensations: count, reversals: reversals, gross: gross, net: net, allowance: rows.int64(row, base + 4))
        }
    }
}
