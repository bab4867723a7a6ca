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
