import RecoveryDomain

/// The currency and time zone a ledger was started with (schema/0003): fixed
/// once events exist, because business days and amounts of recorded events
/// depend on them.
public enum LedgerSettings {
    /// Records the settings on first use; afterwards refuses different ones.
    /// `readOnly` (a follower on a replica): only compares, and refuses a
    /// ledger whose writer has not recorded its settings yet.
    public static func check(currency: String, timeZone: String, connection: PGConnection, readOnly: Bool = false) throws {
        if !readOnly {
            try connection.query(
                "INSERT INTO ledger_settings (currency, time_zone) VALUES ($1, $2) ON CONFLICT (singleton) DO NOTHING",
                [.text(currency), .text(timeZone)])
        }
        let row = try connection.query("SELECT currency, time_zone FROM ledger_settings")
        guard row.rowCount == 1 else {
            throw StoreError(.server, "this ledger has no settings yet: start its writer first")
        }
        let stored = (row.string(0, 0) ?? "", row.string(0, 1) ?? "")
        guard stored == (currency, timeZone) else {
            throw StoreError(
                .server,
                "this ledger was started with currency \(stored.0) and time zone \(stored.1), not \(currency) and \(timeZone); they cannot change once events exist"
            )
        }
    }
}
