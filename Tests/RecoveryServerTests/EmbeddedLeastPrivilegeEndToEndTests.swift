import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

/// The embedded PostgreSQL gives the daemon no more than it needs (issue 24):
/// the superuser only migrates; every session the daemon then holds is the
/// least-privilege role's, which cannot read server files, rewrite the log or
/// make roles; and the OS user the cluster runs as cannot log in to it.
@Suite("The embedded PostgreSQL: least privilege", .tags(.processes))
struct EmbeddedLeastPrivilegeEndToEndTests {
    @Test func theDaemonServesAsItsLeastPrivilegeRoleAndNoSharedOSUserGetsIn() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-least-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let clusterFolder = folder.appending(path: "postgres")
        defer {
            if let cluster = try? LocalCluster(directory: clusterFolder) { try? cluster.stop(mode: "immediate") }
            try? FileManager.default.removeItem(at: folder)
        }
        let port = try Daemon.freePort()
        let log = folder.appending(path: "out.log").path
        let pid = try Daemon.spawn(Daemon.binary, ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", folder.path], output: log)
        defer {
            kill(pid, SIGTERM)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        try waitFor("the embedded daemon to listen", timeout: 90) { (try? LineClient(port: port)) != nil }

        // It serves: appends and reads go through the role's grants.
        let tokens = try DurabilityEndToEndTests.firstStartTokens(in: folder)
        let client = try LineClient(port: port)
        #expect(okObject(try client.request("HELLO \(tokens["frontline"] ?? "")")) != nil)
        #expect(okObject(try client.request("APPEND " + Events.complaint(1, caseID: "LP-1"))) != nil)
        #expect(okObject(try client.request("APPEND " + Events.compensation(2, caseID: "LP-1", amount: 700))) != nil)
        #expect(okObject(try client.request("CASE LP-1"))?["compensation_net"] as? Int == 700)

        let cluster = try LocalCluster(directory: clusterFolder)
        let superuser = try PGConnection(cluster.conninfo(database: "recoveryd"))
        let sessions = try superuser.query(
            "SELECT usename, count(*)::int8 FROM pg_stat_activity WHERE datname = 'recoveryd' AND pid <> pg_backend_pid() GROUP BY usename")
        #expect(sessions.rowCount == 1, "the daemon's sessions are one role's")
        #expect(sessions.string(0, 0) == DaemonRole.name)
        #expect((sessions.int64(0, 1) ?? 0) >= 2, "the writer's session and at least one reader's")
        let privileges = try superuser.query("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1", [.text(DaemonRole.name)])
        #expect(privileges.bool(0, 0) == false && privileges.bool(0, 1) == false && privileges.bool(0, 2) == false)

        // A session as the daemon's role can do none of what an attacker
        // with SQL in the daemon's session would want.
        let signingKey = folder.appending(path: "signing.key").path
        let asDaemon = try PGConnection(cluster.conninfo(database: "recoveryd", user: DaemonRole.name))
        for statement in [
            "SELECT pg_read_file('\(signingKey)')", "SELECT pg_ls_dir('.')", "COPY events TO '/tmp/recoveryd-exfiltrated'",
            "UPDATE events SET agent_id = 'x'", "DELETE FROM events", "TRUNCATE events", "DELETE FROM signed_heads",
            "CREATE ROLE intruder SUPERUSER LOGIN", "ALTER ROLE recoveryd SUPERUSER",
        ] {
            let error = #expect(throws: StoreError.self, "\(statement)") { try asDaemon.execute(statement) }
            #expect(error?.sqlState == "42501", "\(statement): \(String(describing: error))")
        }

        // The secrets beside the cluster are this user's alone.
        for name in ["signing.key", "tokens", "first-start-tokens"] {
            let mode = try FileManager.default.attributesOfItem(atPath: folder.appending(path: name).path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(name)")
        }
        // The cluster runs as `postgres` when the tests run as root; that OS
        // user, shared with the distribution's server, cannot log in.
        if getuid() == 0 {
            for role in ["postgres", DaemonRole.name] {
                let attempt = cluster.psql(asOSUser: cluster.user, role: role, database: "recoveryd")
                #expect(attempt.failed, "\(attempt.output)")
                #expect(attempt.output.contains("Peer authentication failed"), "\(attempt.output)")
            }
        }
    }
}
