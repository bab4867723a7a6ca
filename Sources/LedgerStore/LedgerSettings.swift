import RecoveryDomain

/// The currency and time zone a ledger was started with (schema/0003): fixed
/// once events exist, because business days and amounts of recorded events
/// depend on them.
public enum LedgerSettings {
    /// Records the settings on first use; afterwards refuses different ones.
    /// `readOnly` (a follower on a replica): only compares, and refuses a
    /// ledger whose writer has not recorded its settings yet.
    public static func check(
        currency: String, timeZone: String, followUpWithinDays: Int = 2, repeatWindowDays: Int = 365, connection: PGConnection,
        readOnly: Bool = false
    ) throws {
        if !readOnly {
            try connection.query(
                """
                INSERT INTO ledger_settings (currency, time_zone, follow_up_within_days, repeat_window_days) VALUES ($1, $2, $3, $4)
                ON CONFLICT (singleton) DO NOTHING
                """,
                [.text(currency), .text(timeZone), .int(followUpWithinDays), .int(repeatWindowDays)])
        }
        guard let stored = try stored(connection) else {
            throw StoreError(.server, "this ledger has no settings yet: start its writer first")
        }
        guard (stored.currency, stored.timeZone) == (currency, timeZone) else {
            throw StoreError(
                .server,
                "this ledger was started with currency \(stored.currency) and time zone \(stored.timeZone), not \(currency) and \(timeZone); they cannot change once events exist"
            )
        }
        guard stored.followUpWithinDays == followUpWithinDays else {
            throw StoreError(
                .server,
                "this ledger was started with --follow-up-within-days \(stored.followUpWithinDays), not \(followUpWithinDays); recorded deadlines depend on it, so it cannot change"
            )
        }
        guard stored.repeatWindowDays == repeatWindowDays else {
            throw StoreError(
                .server,
                "this ledger was started with --repeat-window-days \(stored.repeatWindowDays), not \(repeatWindowDays); recorded cases depend on it, so it cannot change"
            )
        }
    }

    /// The settings recorded at the first start, if any.
    public static func stored(_ connection: PGConnection) throws -> (
        currency: String, timeZone: String, followUpWithinDays: Int, repeatWindowDays: Int
    )? {
        let row = try connection.query("SELECT currency, time_zone, follow_up_within_days, repeat_window_days FROM ledger_settings")
        guard row.rowCount == 1 else { return nil }
        return (row.string(0, 0) ?? "", row.string(0, 1) ?? "", Int(row.int64(0, 2) ?? 2), Int(row.int64(0, 3) ?? 365))
    }
}
