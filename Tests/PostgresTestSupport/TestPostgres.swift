import Foundation
import LedgerStore

/// The test run's own PostgreSQL: one throwaway cluster per test process,
/// started on first use in a fresh temporary folder (Unix socket only, run as
/// the unprivileged `postgres` user when the tests run as root) and stopped and
/// removed when the process exits. Each test gets a database of its own.
public enum TestPostgres {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cluster: LocalCluster?
    nonisolated(unsafe) private static var counter = 0

    /// The shared cluster, started if needed.
    public static func shared() throws -> LocalCluster {
        lock.lock()
        defer { lock.unlock() }
        if let cluster { return cluster }
        removeLeftovers()
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let started = try LocalCluster(directory: folder, settings: ["max_connections": "200"])
        // The least-privilege roles of deploy/roles.sql, which a test creates.
        started.databaseUsers += ["recoveryd", "ledger_reader"]
        try started.initializeIfNeeded(durable: false)
        try String(getpid()).write(to: folder.appending(path: "owner.pid"), atomically: true, encoding: .utf8)
        try started.start()
        cluster = started
        atexit { TestPostgres.tearDown() }
        return started
    }

    /// A new, empty database on the shared cluster, with the schema migrated
    /// when `migrated` is true. Returns its conninfo.
    public static func database(migrated: Bool = true) throws -> String {
        let cluster = try shared()
        let name: String = {
            lock.lock()
            defer { lock.unlock() }
            counter += 1
            return "test_\(counter)"
        }()
        let conninfo = try cluster.createDatabase(name)
        if migrated { try Migrator.migrate(PGConnection(conninfo)) }
        return conninfo
    }

    /// A cluster of its own for a test that changes server-wide settings
    /// (which would disturb the other tests on the shared one): started in a
    /// fresh folder, stopped and removed by ``DedicatedCluster/remove()``.
    public static func dedicated(settings: [String: String] = [:]) throws -> DedicatedCluster {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        let cluster = try LocalCluster(directory: folder, settings: settings)
        try cluster.initializeIfNeeded(durable: false)
        try String(getpid()).write(to: folder.appending(path: "owner.pid"), atomically: true, encoding: .utf8)
        try cluster.start()
        return DedicatedCluster(cluster: cluster)
    }

    /// Stops the cluster and deletes its folder.
    static func tearDown() {
        guard let cluster else { return }
        try? cluster.stop(mode: "immediate")
        try? FileManager.default.removeItem(at: cluster.directory)
    }

    /// Clusters of test processes that died without cleaning up.
    private static func removeLeftovers() {
        let temporary = FileManager.default.temporaryDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? []
        for name in names where name.hasPrefix("recoveryd-test-") {
            let folder = temporary.appending(path: name)
            guard let owner = try? String(contentsOf: folder.appending(path: "owner.pid"), encoding: .utf8),
                let pid = Int32(owner), kill(pid, 0) != 0
            else { continue }
            if let stale = try? LocalCluster(directory: folder) { try? stale.stop(mode: "immediate") }
            try? FileManager.default.removeItem(at: folder)
        }
    }
}

/// A test's own cluster (see ``TestPostgres/dedicated(settings:)``).
public final class DedicatedCluster {
    public let cluster: LocalCluster

    init(cluster: LocalCluster) { self.cluster = cluster }

    deinit { remove() }

    /// A new database on this cluster, with the schema migrated.
    public func database(_ name: String = "ledger") throws -> String {
        let conninfo = try cluster.createDatabase(name)
        try Migrator.migrate(PGConnection(conninfo))
        return conninfo
    }

    /// Runs SQL as the superuser on the `postgres` database (server settings).
    public func admin(_ sql: String) throws { try PGConnection(cluster.conninfo()).execute(sql) }

    /// Makes every COMMIT wait for a synchronous standby that never comes
    /// (`on`), or stops waiting and releases the commits that wait (`off`).
    public func waitForAGhostStandby(_ on: Bool) throws {
        try admin("ALTER SYSTEM SET synchronous_standby_names = '\(on ? "ghost" : "")'")
        try admin("SELECT pg_reload_conf()")
        usleep(300_000)  // the reload reaches every backend
    }

    public func remove() {
        try? cluster.stop(mode: "immediate")
        try? FileManager.default.removeItem(at: cluster.directory)
    }
}
