import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryClient
import Testing

/// Backups that restore (issue 12): `pg_basebackup` of the cluster and
/// `pg_dump` of the ledger's database, both taken while the daemon runs, each
/// restored into a new cluster where the daemon starts, verifies and serves
/// the same budgets.
@Suite("Backups of a live ledger restore", .tags(.processes))
struct BackupEndToEndTests {
    static func run(_ cluster: LocalCluster, _ program: String, _ arguments: [String]) throws -> String {
        try ChildProcess.run(cluster.binDirectory.appending(path: program).path, arguments, currentDirectory: URL(fileURLWithPath: "/tmp"))
    }

    /// A new, empty folder for a cluster, handed to the cluster's user.
    static func folder(_ name: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-test-\(getpid())-\(name)-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try String(getpid()).write(to: folder.appending(path: "owner.pid"), atomically: true, encoding: .utf8)
        return folder
    }

    static func chown(_ url: URL) throws {
        if getuid() == 0 { _ = try ChildProcess.run("/bin/chown", ["-R", "postgres", url.path]) }
    }

    @Test func aBaseBackupAndADumpTakenWhileTheDaemonRunsRestoreToTheSameLedger() throws {
        let source = try TestPostgres.dedicated()
        let conninfo = try source.cluster.createDatabase("ledger")
        let daemon = try Daemon(conninfo: conninfo)
        let front = try daemon.client("frontline")
        var n = 0
        func appendSome(_ count: Int) throws {
            for _ in 0..<count {
                n += 1
                let event = n % 2 == 0 ? Events.compensation(n, caseID: "B-\(n - 1)", amount: 100 + n % 50) : Events.complaint(n, caseID: "B-\(n)")
                #expect(okObject(try front.request("APPEND " + event)) != nil)
            }
        }
        try appendSome(400)

        // A base backup while appends go on.
        let appending = DispatchSemaphore(value: 0)
        let loadConnection = try daemon.client("frontline")
        Thread.detachNewThread {
            defer { appending.signal() }
            for m in 5_000..<5_300 {
                _ = try? loadConnection.request("APPEND " + Events.complaint(m, caseID: "LIVE-\(m)"))
            }
        }
        let based = try Self.folder("basebackup")
        let data = based.appending(path: "data")
        _ = try Self.run(source.cluster, "pg_basebackup", ["-h", source.cluster.directory.path, "-U", "postgres", "-D", data.path, "-X", "stream", "-c", "fast"])
        appending.wait()
        try appendSome(100)
        // A logical dump of the ledger's database, the daemon still running.
        let dump = based.appending(path: "ledger.dump")
        _ = try Self.run(source.cluster, "pg_dump", ["-h", source.cluster.directory.path, "-U", "postgres", "-Fc", "-f", dump.path, "ledger"])

        let auditor = try daemon.client("auditor")
        let sourceVerify = try #require(okObject(try auditor.request("VERIFY")))
        let day = try #require(okObject(try front.request("BUDGET A-7"))?["day"] as? String)
        let sourceBudgets = try #require(okObject(try daemon.client("finance").request("BUDGETS \(day)")))

        // The base backup: its own cluster, recovered to a consistent point of the live ledger.
        try Self.chown(based)
        chmod(data.path, 0o700)
        let restored = try LocalCluster(directory: based)
        try restored.start()
        defer { try? restored.stop(mode: "immediate"); try? FileManager.default.removeItem(at: based) }
        let restoredDaemon = try Daemon(conninfo: restored.conninfo(database: "ledger"))
        let verified = try #require(okObject(try restoredDaemon.client("auditor").request("VERIFY")))
        let position = try #require(verified["last"] as? Int)
        #expect(position >= 400 && position <= 700, "\(verified)")
        let sourceHash = try EventReader(connection: PGConnection(conninfo)).hash(at: Int64(position)).map { ChainVerifier.hex($0) }
        #expect(verified["hash"] as? String == sourceHash)
        restoredDaemon.stop()
        let check = try Daemon.run(["rebuild", "--check", "--database", restored.conninfo(database: "ledger")])
        #expect(check.status == 0, "\(check.output)")

        // The dump: restored into a new cluster, the daemon starts with the same hash and budgets.
        let fresh = try TestPostgres.dedicated()
        _ = try fresh.cluster.createDatabase("ledger")
        _ = try Self.run(fresh.cluster, "pg_restore", ["-h", fresh.cluster.directory.path, "-U", "postgres", "-d", "ledger", "--exit-on-error", dump.path])
        let fromDump = try Daemon(conninfo: fresh.cluster.conninfo(database: "ledger"))
        #expect(okObject(try fromDump.client("auditor").request("VERIFY"))?["hash"] as? String == sourceVerify["hash"] as? String)
        let budgets = try #require(okObject(try fromDump.client("finance").request("BUDGETS \(day)")))
        #expect(NSDictionary(dictionary: budgets) == NSDictionary(dictionary: sourceBudgets))
        #expect((budgets["total_spent"] as? Int ?? 0) > 0)
    }
}
