import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

@Suite("Schema migrations", .tags(.postgres))
struct MigratorTests {
    @Test func migrationsApplyOnceAndInOrder() throws {
        let db = try TestPostgres.database(migrated: false)
        let connection = try PGConnection(db)
        let applied = try Migrator.migrate(connection)
        #expect(applied == Migrator.migrations.map(\.version))
        #expect(applied == applied.sorted())
        #expect(try Migrator.migrate(connection).isEmpty)
        let recorded = try connection.query("SELECT version FROM schema_migrations ORDER BY version")
        #expect((0..<recorded.rowCount).map { recorded.int64($0, 0)! } == applied.map(Int64.init))
        for table in ["events", "ledger_checkpoint", "cases", "case_compensations", "budget_days", "allowances"] {
            #expect(try connection.query("SELECT to_regclass($1) IS NOT NULL", [.text(table)]).bool(0, 0) == true)
        }
    }

    @Test func twoProcessesMigratingAtOnceEachApplyItOnce() async throws {
        let db = try TestPostgres.database(migrated: false)
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask { try Migrator.migrate(PGConnection(db)) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.flatMap { $0 }.sorted() == Migrator.migrations.map(\.version))
        let count = try PGConnection(db).query("SELECT count(*) FROM schema_migrations").int64(0, 0)
        #expect(count == Int64(Migrator.migrations.count))
    }

    @Test func aDatabaseNewerThanTheBuildIsRefused() throws {
        let db = try TestPostgres.database()
        let connection = try PGConnection(db)
        try connection.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')")
        let error = #expect(throws: StoreError.self) { try Migrator.migrate(connection) }
        #expect(error?.code == .unknownMigration)
    }

    @Test func aURIConnectsAsAConninfoDoes() throws {
        let cluster = try TestPostgres.shared()
        _ = try TestPostgres.database()
        let host = cluster.directory.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        let connection = try PGConnection("postgresql://postgres@/postgres?host=\(host)&application_name=uri-test")
        #expect(try connection.query("SELECT current_setting('application_name')").string(0, 0) == "uri-test")
    }

    @Test func aBadConninfoFailsWithTheServersReason() throws {
        let cluster = try TestPostgres.shared()
        let error = #expect(throws: StoreError.self) { try PGConnection(cluster.conninfo(database: "no_such_database")) }
        #expect(error?.code == .connection)
        #expect(error?.message.contains("no_such_database") == true)
    }
}
