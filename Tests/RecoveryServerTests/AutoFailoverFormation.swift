import Foundation
import LedgerStore
import RecoveryClient

/// A pg_auto_failover formation on loopback for tests: a monitor and two
/// data nodes with synchronous replication, each run by `pg_autoctl run` as
/// the unprivileged `postgres` user, in a throwaway folder. Debian's
/// `pg-auto-failover-cli` and `postgresql-15-auto-failover` provide it
/// (deploy/install-deps.sh installs them).
final class AutoFailoverFormation {
    let folder: URL
    let monitorPort: Int
    let nodePorts: [Int]
    private var runners: [pid_t] = []
    private let binDirectory: String

    /// Creates and starts the monitor and both nodes; returns once node 1 is
    /// primary and node 2 its synchronous secondary.
    init(primaryDemoteTimeout: Int) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/pg_autoctl") else {
            throw FormationError("pg_autoctl is not installed: run deploy/install-deps.sh (pg-auto-failover-cli)")
        }
        binDirectory = try Self.postgresBin()
        folder = URL(fileURLWithPath: "/tmp/recoveryd-failover-\(getpid())-\(UUID().uuidString.prefix(6))")
        monitorPort = try LoopbackPort.free()
        nodePorts = [try LoopbackPort.free(), try LoopbackPort.free()]
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // PostgreSQL's default socket directory on Debian; /run is empty on a new machine.
        try FileManager.default.createDirectory(atPath: "/var/run/postgresql", withIntermediateDirectories: true)
        _ = try ChildProcess.run("/bin/chown", ["postgres", folder.path, "/var/run/postgresql"])
        do {
            try autoctl(["create", "monitor", "--pgdata", path("monitor"), "--pgport", "\(monitorPort)", "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl"])
            try run("monitor")
            try waitUntil(60, "the monitor accepts connections") { (try? self.monitor()) != nil }
            // How long the monitor waits for a lost primary to report its demotion
            // before it lets the standby take writes (pg_auto_failover's default is 30 s).
            try monitor().execute("ALTER SYSTEM SET pgautofailover.primary_demote_timeout = '\(primaryDemoteTimeout)s'")
            try monitor().execute("SELECT pg_reload_conf()")
            for (index, port) in nodePorts.enumerated() {
                try autoctl([
                    "create", "postgres", "--pgdata", path("node\(index + 1)"), "--pgport", "\(port)", "--hostname", "127.0.0.1",
                    "--auth", "trust", "--no-ssl", "--dbname", "ledger", "--monitor",
                    "postgres://autoctl_node@127.0.0.1:\(monitorPort)/pg_auto_failover?sslmode=disable",
                ])
                try run("node\(index + 1)")
                // Alone, the first node is "single"; it becomes "primary" once the second is its "secondary".
                let wanted = index == 0 ? "single" : "secondary"
                try waitUntil(120, "node \(index + 1) is \(wanted)") { (try? self.state(of: port)) == wanted }
            }
            try waitUntil(60, "node 1 is primary") { (try? self.state(of: self.nodePorts[0])) == "primary" }
        } catch {
            stop()
            throw error
        }
    }

    deinit { stop() }

    /// The multi-host URI a writer uses.
    var uri: String {
        "postgres://postgres@127.0.0.1:\(nodePorts[0]),127.0.0.1:\(nodePorts[1])/ledger?target_session_attrs=read-write&sslmode=disable"
    }

    func conninfo(node: Int) -> String {
        "host=127.0.0.1 port=\(nodePorts[node - 1]) user=postgres dbname=ledger sslmode=disable connect_timeout=2"
    }

    /// SIGKILL of a node's postmaster (its keeper restarts it, as in production).
    func killPostmaster(node: Int) throws {
        let pidFile = try String(contentsOfFile: path("node\(node)") + "/postmaster.pid", encoding: .utf8)
        guard let pid = pid_t(pidFile.split(separator: "\n").first ?? "") else { throw FormationError("no postmaster pid") }
        kill(pid, SIGKILL)
    }

    /// True when the node takes writes.
    func isWritable(node: Int) -> Bool {
        let connection = try? PGConnection(conninfo(node: node), timeouts: PGTimeouts(connect: .seconds(2), statement: .seconds(2)))
        return (try? connection?.query("SHOW transaction_read_only").string(0, 0)) == "off"
    }

    /// The state the monitor last heard from the node on `port`.
    func state(of port: Int) throws -> String? {
        try monitor().query("SELECT reportedstate::text FROM pgautofailover.node WHERE nodeport = $1", [.int(port)]).string(0, 0)
    }

    var events: String {
        (try? monitor().query(
            "SELECT eventtime::text || ' ' || nodeid::text || ' ' || reportedstate::text || '→' || goalstate::text FROM pgautofailover.event ORDER BY eventid"
        )).map { result in (0..<result.rowCount).compactMap { result.string($0, 0) }.joined(separator: "\n") } ?? ""
    }

    func stop() {
        for name in ["node2", "node1", "monitor"] where FileManager.default.fileExists(atPath: path(name)) {
            try? autoctl(["stop", "--pgdata", path(name), "--immediate"])
        }
        // Whatever still runs from this folder (a keeper, a server whose keeper
        // died first) is killed, then the keepers' `runuser`s are reaped.
        _ = try? ChildProcess.run("/usr/bin/pkill", ["-KILL", "-f", folder.path])
        for pid in runners {
            kill(pid, SIGKILL)
            _ = ChildProcess.wait(pid)
        }
        runners = []
        try? FileManager.default.removeItem(at: folder)
    }

    private func path(_ name: String) -> String { folder.appending(path: name).path }

    private func monitor() throws -> PGConnection {
        try PGConnection(
            "host=127.0.0.1 port=\(monitorPort) user=postgres dbname=pg_auto_failover sslmode=disable",
            timeouts: PGTimeouts(connect: .seconds(2), statement: .seconds(5)))
    }

    private var environment: [String] { ["/usr/bin/env", "PATH=\(binDirectory):/usr/bin:/bin", "PGDATA=", "HOME=\(folder.path)"] }

    private func autoctl(_ arguments: [String]) throws {
        _ = try ChildProcess.run("/usr/sbin/runuser", ["-u", "postgres", "--"] + environment + ["pg_autoctl"] + arguments, currentDirectory: folder)
    }

    private func run(_ name: String) throws {
        let pid = try ChildProcess.spawn(
            "/usr/sbin/runuser", ["-u", "postgres", "--"] + environment + ["pg_autoctl", "run", "--pgdata", path(name)],
            output: path("\(name).log"))
        runners.append(pid)
    }

    private func waitUntil(_ seconds: Double, _ what: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return }
            usleep(250_000)
        }
        let logs = ["monitor", "node1", "node2"].map { (try? String(contentsOfFile: path("\($0).log"), encoding: .utf8))?.suffix(800) ?? "" }
        throw FormationError("timed out waiting until \(what):\n\(logs.joined(separator: "\n---\n"))")
    }

    private static func postgresBin() throws -> String {
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []).compactMap(Int.init).sorted(by: >)
        guard let version = versions.first else { throw FormationError("PostgreSQL's server programs are not installed") }
        return "/usr/lib/postgresql/\(version)/bin"
    }
}

struct FormationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
