import ArgumentParser
import LedgerStore

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the schema's migrations and exit.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("info")
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stop() } }
        let applied = try Migrator.migrate(PGConnection(database.conninfo(cluster: cluster), timeouts: .maintenance)) { logger.info("\($0)") }
        print(applied.isEmpty ? "schema up to date" : "applied \(applied.count) migration(s)")
    }
}

