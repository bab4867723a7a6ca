/// The daemon's least-privilege database role: it may append to the log and
/// read it, keep the projection tables, and never change or remove an event.
/// deploy/roles.sql grants the same to an external database (a test holds the
/// two to the same list); the embedded cluster creates the role itself after
/// migrating as the superuser, and the daemon then connects as this role.
public enum DaemonRole {
    public static let name = "recoveryd"

    /// The projection tables, derived from the log and rewritten with it.
    static let projectionTables = ["cases", "follow_ups_due", "case_compensations", "budget_days", "allowances", "customer_days", "setting_changes"]

    /// Every grant, in the order deploy/roles.sql lists them.
    public static func grants(database: String, role: String = name) -> [String] {
        let projections = projectionTables.joined(separator: ", ")
        return [
            "GRANT CONNECT ON DATABASE \(database) TO \(role);",
            "GRANT USAGE ON SCHEMA public TO \(role);",
            "GRANT SELECT, INSERT ON events TO \(role);",
            "GRANT SELECT, INSERT, UPDATE ON \(projections), ledger_checkpoint TO \(role);",
            "GRANT TRUNCATE ON \(projections) TO \(role);",
            "GRANT DELETE ON follow_ups_due TO \(role);",
            "GRANT SELECT, DELETE ON ledger_settings TO \(role);",
            "GRANT SELECT, INSERT ON signed_heads TO \(role);",
            "GRANT SELECT ON schema_migrations TO \(role);",
        ]
    }

    /// Creates the role (login, no password: the embedded cluster admits it
    /// only by peer authentication) when absent and grants it the list above;
    /// run by the superuser on a migrated database. Running it again is harmless.
    public static func provision(_ connection: PGConnection, database: String) throws {
        try connection.transaction {
            let exists = try connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [.text(name)])
            if exists.rowCount == 0 { try connection.execute("CREATE ROLE \(name) LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE") }
            for grant in grants(database: quoted(database)) { try connection.execute(grant) }
        }
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
