import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

@Suite("recoveryd: crashes, restarts and a database that goes away", .tags(.processes))
struct DurabilityEndToEndTests {
    /// Sends appends one by one from `count` threads until told to stop and
    /// records every acknowledged position and hash.
    final class Load: @unchecked Sendable {
        let lock = NSLock()
        var acknowledged: [Int: String] = [:]
        var refusals: [String] = []
        var running = true
        var threads: [Thread] = []

        init(port: Int, clients: Int, salt: Int) {
            for client in 0..<clients {
                let thread = Thread { [self] in
                    guard let connection = try? LineClient(port: port, timeoutSeconds: 10),
                        (try? connection.request("HELLO \(Daemon.tokens["frontline"]!)"))?.hasPrefix("OK") == true
                    else { return }
                    var n = 0
                    while isRunning {
                        n += 1
                        let event = Events.complaint(client * 1_000_000 + n, caseID: "L\(salt)-\(client)-\(n)", salt: salt)
                        guard let answer = try? connection.request("APPEND " + event) else { return }
                        record(answer)
                    }
                }
                threads.append(thread)
                thread.start()
            }
        }

        var isRunning: Bool {
            lock.lock()
            defer { lock.unlock() }
            return running
        }

        func record(_ answer: String) {
            lock.lock()
            defer { lock.unlock() }
            if let object = okObject(answer), let position = object["position"] as? Int, let hash = object["hash"] as? String {
                acknowledged[position] = hash
            } else {
                refusals.append(answer)
            }
        }

        var count: Int {
            lock.lock()
            defer { lock.unlock() }
            return acknowledged.count
        }

        func stop() {
            lock.lock()
            running = false
            lock.unlock()
            while threads.contains(where: { !$0.isFinished }) { usleep(20_000) }
        }
    }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    /// Every acknowledged receipt is in a replay, the chain verifies, and the
    /// projections equal a rebuild from the log.
    static func expectIntact(_ daemon: Daemon, acknowledged: [Int: String]) throws {
        let auditor = try daemon.client("auditor")
        let (events, final) = try auditor.stream("REPLAY 1")
        let summary = try #require(okObject(final))
        let hashes = StreamEndToEndTests.chain(from: summary["prev_hash"] as! String, over: events)
        for (position, hash) in acknowledged {
            #expect(position <= hashes.count && hashes[position - 1] == hash, "acknowledged position \(position) is missing or different")
        }
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == events.count)
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
        #expect(rebuild.output.contains("match the log"), "\(rebuild.output)")
    }

    @Test func killNineMidStreamLosesNoAcknowledgedEvent() throws {
        let daemon = try Daemon()
        let load = Load(port: daemon.port, clients: 8, salt: 1)
        #expect(Self.waitUntil(30) { load.count >= 300 })
        daemon.stop(signal: SIGKILL)
        load.stop()
        let acknowledged = load.acknowledged
        #expect(acknowledged.count >= 300)
        try daemon.start()
        try Self.expectIntact(daemon, acknowledged: acknowledged)
        // And it carries on from where the log ends.
        let front = try daemon.client("frontline")
        let answer = try #require(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "AFTER", salt: 99))))
        let auditor = try daemon.client("auditor")
        #expect(answer["position"] as? Int == (try auditor.stream("REPLAY 1").events.count))
    }

    @Test func aSecondDaemonOnTheSameLedgerRefusesToStart() throws {
        let daemon = try Daemon()
        let elsewhere = FileManager.default.temporaryDirectory.appending(path: "recoveryd-second-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let second = try Daemon.run([
            "serve", "--listen", "127.0.0.1:\(try Daemon.freePort())", "--database", daemon.conninfo,
            "--token-file", daemon.folder.appending(path: "tokens").path, "--data-dir", elsewhere.path,
        ])
        #expect(second.status != 0)
        #expect(second.output.contains("another writer holds this ledger"), "\(second.output)")
        // It did not take over the running daemon's pid file.
        #expect(try String(contentsOf: daemon.folder.appending(path: "recoveryd.pid"), encoding: .utf8) == "\(daemon.pid)\n")
    }

    @Test func postgresStoppedAndStartedUnderLoadGivesNoFalseOKAndRecovers() throws {
        // A cluster of this test's own: stopping the shared one would stop every test.
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-outage-\(UUID().uuidString.prefix(8))")
        let cluster = try LocalCluster(directory: folder)
        try cluster.initializeIfNeeded(durable: false)
        try cluster.start()
        defer {
            try? cluster.stop(mode: "immediate")
            try? FileManager.default.removeItem(at: folder)
        }
        let daemon = try Daemon(conninfo: cluster.createDatabase("outage"))
        let load = Load(port: daemon.port, clients: 4, salt: 2)
        #expect(Self.waitUntil(30) { load.count >= 100 })
        try cluster.stop(mode: "fast")
        let before = load.count
        #expect(Self.waitUntil(10) { load.refusals.contains { errorCode($0) == "unavailable" } })
        usleep(300_000)
        // While the database is down nothing is acknowledged, and what needs
        // only memory (today's budgets) is still served.
        #expect(load.count == before)
        let budget = try daemon.client("frontline").request("BUDGET A-7")
        #expect(okObject(budget)?["allowance"] as? Int == 200_000, "\(budget)")
        try cluster.start()
        #expect(Self.waitUntil(30) { load.count > before + 50 }, "the daemon did not recover by itself: \(daemon.log.suffix(2_000))")
        load.stop()
        #expect(load.refusals.allSatisfy { errorCode($0) == "unavailable" }, "\(load.refusals.prefix(3))")
        try Self.expectIntact(daemon, acknowledged: load.acknowledged)
    }

    @Test func sigtermAnswersWhatIsInFlightThenStops() throws {
        let daemon = try Daemon()
        let client = try daemon.client("frontline")
        var batch = ""
        for n in 1...300 { batch += "APPEND " + Events.complaint(n, caseID: "T-\(n)", salt: 3) + "\n" }
        try client.send(batch)
        #expect(try client.readLine()?.hasPrefix("OK") == true)
        let status = daemon.stop(signal: SIGTERM)
        #expect(status == 0, "recoveryd exited with \(status)")
        var acknowledged: [Int: String] = [:]
        // Requests read before the shutdown are answered (OK, or unavailable if
        // the writer had stopped); the rest were never read. Then the server closes.
        while let line = try client.readLine() {
            if let object = okObject(line) {
                acknowledged[object["position"] as! Int] = object["hash"] as? String
            } else {
                #expect(errorCode(line) == "unavailable", "\(line)")
            }
        }
        try daemon.start()
        try Self.expectIntact(daemon, acknowledged: acknowledged)
    }

    /// The tokens of an embedded daemon's first start, from the file it
    /// writes them to when stdout is not a terminal (as here).
    static func firstStartTokens(in folder: URL) throws -> [String: String] {
        let text = try String(contentsOf: folder.appending(path: "first-start-tokens"), encoding: .utf8)
        return Dictionary(
            uniqueKeysWithValues: text.split(separator: "\n").compactMap { line -> (String, String)? in
                let words = line.split(separator: " ")
                guard words.count == 2, ["frontline", "auditor", "finance", "admin"].contains(String(words[0])) else { return nil }
                return (String(words[0]), String(words[1]))
            })
    }

    @Test func theEmbeddedDefaultRunsItsOwnPostgresKeepsTokensOutOfItsLogAndSurvivesACrash() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-embedded-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer {
            if let cluster = try? LocalCluster(directory: folder.appending(path: "postgres")) { try? cluster.stop(mode: "immediate") }
            try? FileManager.default.removeItem(at: folder)
        }
        let port = try Daemon.freePort()
        let log = folder.appending(path: "out.log").path
        func start() throws -> pid_t {
            let pid = try Daemon.spawn(Daemon.binary, ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", folder.path], output: log)
            #expect(Self.waitUntil(90) { (try? LineClient(port: port)) != nil }, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            return pid
        }
        var pid = try start()
        let output = try String(contentsOfFile: log, encoding: .utf8)
        // Not a terminal: the tokens are in a file only this user may read, never in the log.
        let tokens = try Self.firstStartTokens(in: folder)
        #expect(tokens.count == 4, "\(output)")
        for token in tokens.values { #expect(!output.contains(token)) }
        #expect(output.contains("one app token per role is in \(folder.appending(path: "first-start-tokens").path) (mode 0600)"), "\(output)")
        let mode = try FileManager.default.attributesOfItem(atPath: folder.appending(path: "first-start-tokens").path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let client = try LineClient(port: port)
        #expect(okObject(try client.request("HELLO \(tokens["frontline"] ?? "")"))?["role"] as? String == "frontline")
        let first = try #require(okObject(try client.request("APPEND " + Events.complaint(1, caseID: "E-1"))))
        // A crash leaves the cluster running; the next start reuses it and carries on.
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = try start()
        let again = try LineClient(port: port)
        _ = try again.request("HELLO \(tokens["frontline"] ?? "")")
        #expect(okObject(try again.request("CASE E-1"))?["last_position"] as? Int == first["position"] as? Int)
        #expect(try String(contentsOfFile: log, encoding: .utf8).components(separatedBy: "one app token per role is in").count == 2, "tokens are made once")
        // A crash of both, daemon and PostgreSQL: the cluster needs recovery, which its start does.
        let second = try #require(okObject(try again.request("APPEND " + Events.complaint(2, caseID: "E-2"))))
        let pidFile = folder.appending(path: "postgres/data/postmaster.pid")
        let postmaster = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8).split(separator: "\n")[0]))
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        kill(postmaster, SIGKILL)
        #expect(Self.waitUntil(10) { kill(postmaster, 0) != 0 })
        pid = try start()
        let third = try LineClient(port: port)
        _ = try third.request("HELLO \(tokens["frontline"] ?? "")")
        #expect(okObject(try third.request("CASE E-2"))?["last_position"] as? Int == second["position"] as? Int)
        // SIGTERM stops the daemon and its cluster.
        kill(pid, SIGTERM)
        waitpid(pid, &status, 0)
        #expect((status >> 8) & 0xff == 0)
        #expect(try LocalCluster(directory: folder.appending(path: "postgres")).isRunning == false)
    }

    @Test func migrateAndTokenNewWorkFromTheCommandLine() throws {
        let conninfo = try TestPostgres.database(migrated: false)
        let migrate = try Daemon.run(["migrate", "--database", conninfo])
        #expect(migrate.status == 0)
        #expect(migrate.output.contains("applied \(Migrator.migrations.count) migration(s)"), "\(migrate.output)")
        #expect(try Daemon.run(["migrate", "--database", conninfo]).output.contains("schema up to date"))

        let daemon = try Daemon(conninfo: conninfo)
        daemon.stop()
        let tokenFile = daemon.folder.appending(path: "tokens").path
        let created = try Daemon.run(["token", "new", "--role", "auditor", "--name", "night auditor", "--token-file", tokenFile])
        #expect(created.status == 0)
        // The token is the first line; then how the running daemon was (not) told.
        let token = String(created.output.split(separator: "\n").first ?? "")
        #expect(token.count == 64)
        #expect(created.output.contains("no running daemon holds"), "\(created.output)")
        #expect(try String(contentsOfFile: tokenFile, encoding: .utf8).contains("auditor \(TokenFileDigest.of(token)) night auditor"))
        #expect(try Daemon.run(["token", "new", "--role", "boss", "--token-file", tokenFile]).status != 0)
        try daemon.start()
        #expect(okObject(try daemon.client().request("HELLO \(token)"))?["role"] as? String == "auditor")
    }

    @Test func theLeastPrivilegeRolesOfTheDeployFolderCanServeButNotAlter() throws {
        let cluster = try TestPostgres.shared()
        let owner = try cluster.createDatabase("ledger")
        try Migrator.migrate(PGConnection(owner))
        let roles = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../deploy/roles.sql"), encoding: .utf8)
        // The file grants the daemon's role what the embedded daemon grants it itself.
        let granted = roles.split(separator: "\n").filter { $0.hasPrefix("GRANT") && $0.hasSuffix(" TO recoveryd;") }.map(String.init)
        #expect(granted == DaemonRole.grants(database: "ledger"))
        try PGConnection(owner).execute(roles)
        let daemonRole = owner.replacingOccurrences(of: "user=postgres", with: "user=recoveryd")
        let daemon = try Daemon(conninfo: daemonRole)
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "K-1"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.compensation(2, caseID: "K-1", amount: 500))) != nil)
        #expect(okObject(try front.request("CASE K-1"))?["compensation_net"] as? Int == 500)
        for statement in ["UPDATE events SET agent_id = 'x'", "DELETE FROM events", "TRUNCATE events"] {
            let error = #expect(throws: StoreError.self) { try PGConnection(daemonRole).execute(statement) }
            #expect(error?.sqlState == "42501", "\(statement)")
        }
        let reader = owner.replacingOccurrences(of: "user=postgres", with: "user=ledger_reader")
        #expect(try PGConnection(reader).query("SELECT spent FROM budget_days WHERE agent_id = 'A-7'").int64(0, 0) == 500)
    }
}
