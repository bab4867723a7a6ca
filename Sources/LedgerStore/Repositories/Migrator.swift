/// One numbered schema change from `schema/`, embedded at build time.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
}

/// Applies the schema's migrations in order, each once and in its own
/// transaction, recording each in `schema_migrations`. Two processes migrating
/// at once take turns on an advisory lock, so each migration still runs once.
public enum Migrator {
    /// Advisory lock key held while migrating ("rcvdmigr" in ASCII).
    public static let lockKey: Int64 = 0x7263_7664_6D69_6772

    /// Every migration this build carries, in version order.
    public static var migrations: [Migration] { EmbeddedSchema.migrations.sorted { $0.version < $1.version } }

    /// For a read-only replica, which cannot be migrated: refuses a schema
    /// other than this build's (the writer's side migrates it).
    public static func checkCurrent(_ connection: PGConnection) throws {
        let present = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
        var applied: Set<Int> = []
        if present.bool(0, 0) == true {
            let rows = try connection.query("SELECT version FROM schema_migrations")
            for row in 0..<rows.rowCount { if let version = rows.int64(row, 0) { applied.insert(Int(version)) } }
        }
        let known = Set(migrations.map(\.version))
        guard applied == known else {
            throw StoreError(
                .unknownMigration,
                "the replica's schema has migrations \(applied.sorted()) but this build has \(known.sorted()): migrate the writer's database with the same build first"
            )
        }
    }

    /// Brings the database up to date; returns the versions it applied now.
    @discardableResult
    public static func migrate(_ connection: PGConnection, log: (String) -> Void = { _ in }) throws -> [Int] {
        try connection.query("SELECT pg_advisory_lock($1)", [.int(lockKey)])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [.int(lockKey)]) }
        // Created only when absent, so that a daemon role without CREATE on
        // the schema can start against an up-to-date database.
        let present = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if present.bool(0, 0) != true {
            try connection.execute(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        }
        let done = try connection.query("SELECT version FROM schema_migrations ORDER BY version")
        let applied = Set((0..<done.rowCount).compactMap { done.int64($0, 0).map(Int.init) })
        let known = Set(migrations.map(\.version))
        if let stranger = applied.subtracting(known).min() {
            throw StoreError(
                .unknownMigration,
                "the database has schema migration \(stranger), which this recoveryd does not know: it is older than the database"
            )
        }
        var now: [Int] = []
        for migration in migrations where !applied.contains(migration.version) {
            try connection.transaction {
                try connection.execute(migration.sql)
                try connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    [.int(migration.version), .text(migration.name)])
            }
            log("applied schema migration \(migration.name)")
            now.append(migration.version)
        }
        return now
    }
}
