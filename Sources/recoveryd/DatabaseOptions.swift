import ArgumentParser
import Foundation
import LedgerStore
import Logging

/// Where the ledger's PostgreSQL is: `--database`, the PG* environment, or the
/// embedded default (a private cluster in the data dir).
struct DatabaseOptions: ParsableArguments {
    @Option(help: "libpq conninfo or URI of the ledger's database. Without it (and without PG* variables) recoveryd runs its own PostgreSQL in --data-dir.")
    var database: String?

    @Option(help: "Folder for the embedded PostgreSQL and the generated token file.")
    var dataDir: String = "./.recoveryd"

    var isEmbedded: Bool {
        guard database == nil else { return false }
        let environment = ProcessInfo.processInfo.environment
        return !["PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE", "PGPORT"].contains { environment[$0] != nil }
    }

    var dataDirectory: URL { URL(fileURLWithPath: dataDir).standardizedFileURL }

    /// The embedded cluster, started (initdb on first use) and with its
    /// `recoveryd` database; nil when a database is configured.
    func startEmbedded(logger: Logger) throws -> LocalCluster? {
        guard isEmbedded else { return nil }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        // It holds the cluster, the token file and the signing key: this
        // user's alone. When root runs the cluster as another user, that user
        // must pass through (0711) to its own 0700 folder; it still cannot
        // list the folder, and the files in it are 0600.
        try FileManager.default.setAttributes(
            [.posixPermissions: getuid() == 0 ? 0o711 : 0o700], ofItemAtPath: dataDirectory.path)
        let cluster = try LocalCluster(directory: dataDirectory.appending(path: "postgres"))
        // The superuser migrates; the daemon connects as its least-privilege role.
        cluster.databaseUsers = ["postgres", DaemonRole.name]
        if !cluster.isInitialized { logger.info("creating the embedded PostgreSQL cluster", metadata: ["dir": "\(cluster.directory.path)"]) }
        try cluster.initializeIfNeeded()
        try cluster.start()
        logger.info(
            cluster.startedHere ? "embedded PostgreSQL running" : "embedded PostgreSQL was running already (left by an earlier recoveryd); using it",
            metadata: ["socket_dir": "\(cluster.directory.path)"])
        return cluster
    }

    /// The daemon's conninfo. Embedded, the superuser only brings the schema
    /// up to date and provisions the least-privilege role (``DaemonRole``),
    /// then disconnects: the daemon's own sessions are that role's, which can
    /// append and read but not alter the log, read server files or create roles.
    func conninfo(cluster: LocalCluster?, logger: Logger) throws -> String {
        guard let cluster else { return database ?? "" }
        _ = try migrateEmbedded(cluster, logger: logger)
        return cluster.conninfo(database: Self.embeddedDatabase, user: DaemonRole.name)
    }

    /// Migrates the embedded database as the superuser and provisions the
    /// daemon's role; returns the migrations applied now.
    func migrateEmbedded(_ cluster: LocalCluster, logger: Logger) throws -> [Int] {
        // Closed (deinit) when this returns: no superuser session outlives the migration.
        let owner = try PGConnection(cluster.createDatabase(Self.embeddedDatabase), timeouts: .maintenance)
        let applied = try Migrator.migrate(owner) { logger.info("\($0)") }
        try DaemonRole.provision(owner, database: Self.embeddedDatabase)
        return applied
    }

    static let embeddedDatabase = "recoveryd"
}

