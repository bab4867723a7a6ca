import RecoveryDomain

/// Compensation over a range of business days, grouped (`SPENDING`): what
/// finance's report reads, from the projection tables and the compensations'
/// own events (for `kind`), never by replaying the log.
///
/// It is a ledger of entries, each on its own day: a charge on the day it was
/// recorded, a reversal on the day *it* was recorded. So a day's figures,
/// once the day is over, never change (docs/EVENTS.md, "Closed days").
public struct SpendingRow: Sendable, Equatable {
    /// The group's key, one value per dimension asked for.
    public var key: [SpendingDimension: String]
    /// Compensations charged in the group, and their amount (minor units).
    public var compensations: Int64
    public var gross: Int64
    /// Reversals recorded in the group (of charges of any day), and their amount.
    public var reversals: Int64
    public var reversed: Int64
    /// Compensations a supervisor approved over the customer's daily cap.
    public var overrides: Int64
    /// Charged less the reversals recorded the same day: what counted
    /// against allowances (grouped by person and day, the `BUDGET` row's `spent`).
    public var spent: Int64
    /// The person's allowance that day, when grouped by person and day.
    public var allowance: Int64?

    /// Charged less reversed.
    public var net: Int64 { gross - reversed }
}

extension Projections {
    /// The longest range `SPENDING` answers at once.
    public static let maximumSpendingDays = 366

    /// The entries of `from`…`to` grouped by `dimensions`; with `through`,
    /// only the entries recorded up to that position (and the allowance as
    /// the table has it now: ``PastState/spending(from:to:by:at:)`` corrects
    /// the one day it may differ on).
    public func spending(from: BusinessDay, to: BusinessDay, by dimensions: [SpendingDimension], through position: Int64? = nil) throws
        -> [SpendingRow]
    {
        let expressions: [SpendingDimension: String] = [
            .person: "x.person", .day: "x.day::text", .kind: "(e.payload::jsonb ->> 'kind')", .category: "c.category",
        ]
        let keys = dimensions.map { expressions[$0]! }
        let withAllowance = dimensions.contains(.person) && dimensions.contains(.day)
        var sql = """
            WITH x AS (
                SELECT charged_to AS person, day, case_id, event_id, 1 AS charges, amount AS gross, 0 AS reversals,
                    0::bigint AS reversed, CASE WHEN cap_override THEN 1 ELSE 0 END AS overrides,
                    CASE WHEN reversed_day = day AND ($3::bigint IS NULL OR reversed_position <= $3) THEN 0 ELSE amount END AS spent
                FROM case_compensations WHERE day BETWEEN $1::date AND $2::date AND ($3::bigint IS NULL OR position <= $3)
                UNION ALL
                SELECT charged_to, reversed_day, case_id, event_id, 0, 0::bigint, 1, amount, 0, 0::bigint
                FROM case_compensations
                WHERE reversed_day BETWEEN $1::date AND $2::date AND ($3::bigint IS NULL OR reversed_position <= $3)
            )
            SELECT
            """
        sql += " " + (keys + [
            "count(*) FILTER (WHERE x.charges = 1)", "COALESCE(sum(x.gross), 0)", "count(*) FILTER (WHERE x.reversals = 1)",
            "COALESCE(sum(x.reversed), 0)", "COALESCE(sum(x.overrides), 0)", "COALESCE(sum(x.spent), 0)",
            withAllowance ? "max(b.allowance)" : "NULL::bigint",
        ]).joined(separator: ", ")
        sql += " FROM x"
        if dimensions.contains(.category) { sql += " JOIN cases c ON c.case_id = x.case_id" }
        if dimensions.contains(.kind) { sql += " JOIN events e ON e.event_id = x.event_id" }
        if withAllowance { sql += " LEFT JOIN budget_days b ON b.agent_id = x.person AND b.day = x.day" }
        if !keys.isEmpty {
            let positions = (1...keys.count).map(String.init).joined(separator: ", ")
            sql += " GROUP BY \(positions) ORDER BY \(positions)"
        }
        let rows = try connection.query(sql, [.text(from.description), .text(to.description), position.map { .int($0) }])
        return try (0..<rows.rowCount).map { row in
            var key: [SpendingDimension: String] = [:]
            for (column, dimension) in dimensions.enumerated() { key[dimension] = rows.string(row, column) ?? "" }
            let base = dimensions.count
            guard let count = rows.int64(row, base), let gross = rows.int64(row, base + 1), let reversals = rows.int64(row, base + 2),
                let reversed = rows.int64(row, base + 3), let overrides = rows.int64(row, base + 4), let spent = rows.int64(row, base + 5)
            else { throw Self.unreadable("case_compensations", key: "the spending of \(key)") }
            return SpendingRow(
                key: key, compensations: count, gross: gross, reversals: reversals, reversed: reversed, overrides: overrides, spent: spent,
                allowance: rows.int64(row, base + 6))
        }
    }
}
