import ArgumentParser
import LedgerStore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the schema's migrations and exit.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("info")
        // The embedded PostgreSQL is the data dir's: not while a daemon runs on it.
        let dataDirectoryLock = database.isEmbedded ? try DataDirectoryLock(database.dataDirectory) : nil
        defer { withExtendedLifetime(dataDirectoryLock) {} }
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stopIfStartedHere() } }
        let applied =
            if let cluster {
                try database.migrateEmbedded(cluster, logger: logger)
            } else {
                try Migrator.migrate(PGConnection(database.conninfo(cluster: nil, logger: logger), timeouts: .maintenance)) { logger.info("\($0)") }
            }
        print(applied.isEmpty ? "schema up to date" : "applied \(applied.count) migration(s)")
    }
}

