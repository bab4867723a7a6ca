import RecoveryDomain

/// The settings an earlier version kept outside the log, in the
/// `ledger_settings` table (schema/0003): read once, when such a ledger is
/// upgraded (its settings are then recorded as its opening events), and
/// emptied then. Nothing else reads it.
public enum LegacySettings {
    /// The settings stored by an earlier version, if any.
    public static func stored(_ connection: PGConnection) throws -> [SettingName: SettingValue]? {
        let row = try connection.query("SELECT currency, time_zone, follow_up_within_days, repeat_window_days FROM ledger_settings")
        guard row.rowCount == 1, let currency = row.string(0, 0), let zone = row.string(0, 1), let followUp = row.int64(0, 2),
            let window = row.int64(0, 3)
        else { return nil }
        return [.currency: .text(currency), .timeZone: .text(zone), .followUpWithinDays: .integer(followUp), .repeatWindowDays: .integer(window)]
    }

    /// Empties the table once the log holds the settings.
    public static func clear(_ connection: PGConnection) throws {
        try connection.query("DELETE FROM ledger_settings")
    }
}
