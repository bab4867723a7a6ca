import Foundation
import Testing

/// Tokens at run time (issue 11): SIGHUP reads the token file again, revoked
/// tokens' connections are closed, an unsafe file is refused, and tokens bound
/// to one person may act only as that person.
@Suite("Tokens: rotation, revocation and person-bound tokens", .tags(.processes))
struct TokenEndToEndTests {
    private static func reloads(_ daemon: Daemon) -> Int { daemon.log.components(separatedBy: "token file read again").count - 1 }

    /// `recoveryd token new` into the daemon's token file, which makes the
    /// daemon read it again (waited for); the printed token.
    private static func newToken(_ daemon: Daemon, role: String, name: String, agent: String? = nil) throws -> String {
        var arguments = [
            "token", "new", "--role", role, "--name", name, "--token-file", daemon.folder.appending(path: "tokens").path,
            "--data-dir", daemon.folder.path,
        ]
        if let agent { arguments += ["--agent", agent] }
        let before = reloads(daemon)
        let run = try Daemon.run(arguments)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("asked the daemon (pid \(daemon.pid)) to read the token file again"), "\(run.output)")
        try waitFor("the daemon to read the token file again") { reloads(daemon) > before }
        return String(run.output.split(separator: "\n").first ?? "")
    }

    @Test func sighupReadsTheFileAgainAndClosesTheConnectionsOfRemovedTokens() throws {
        let daemon = try Daemon()
        let frontline = try daemon.client("frontline")
        let auditor = try daemon.client("auditor")
        // A new file: frontline's token replaced by another, the others kept.
        var lines = ""
        for (role, token) in Daemon.tokens where role != "frontline" { lines += "\(role) \(TokenFileDigest.of(token)) test\n" }
        lines += "frontline \(TokenFileDigest.of("front-token-2")) rotated\n"
        try lines.write(to: daemon.folder.appending(path: "tokens"), atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)

        #expect(try frontline.readLine() == "ERR auth_required the token of this connection was revoked; closing")
        #expect(try frontline.readLine() == nil)
        try waitFor("the reload's log line") { daemon.log.contains("token file read again") }
        #expect(daemon.log.contains("connections_closed=1"), "\(daemon.log)")
        // The auditor's token is still in the file: its connection carries on.
        #expect(try auditor.request("PING") == #"OK {"pong":true}"#)
        let fresh = try daemon.client()
        #expect(errorCode(try fresh.request("HELLO front-token")) == "auth_required")
        #expect(okObject(try fresh.request("HELLO front-token-2"))?["role"] as? String == "frontline")
    }

    @Test func tokenRevokeEditsTheFileAndSignalsTheRunningDaemon() throws {
        let daemon = try Daemon()
        let token = try Self.newToken(daemon, role: "frontline", name: "tablet-7")
        let tablet = try daemon.client()
        #expect(okObject(try tablet.request("HELLO \(token)")) != nil)
        // A request the daemon is still working on when the token goes is answered, not lost.
        let run = try Daemon.run([
            "token", "revoke", "tablet-7", "--token-file", daemon.folder.appending(path: "tokens").path, "--data-dir", daemon.folder.path,
        ])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("revoked frontline"))
        #expect(run.output.contains("asked the daemon (pid \(daemon.pid))"), "\(run.output)")
        #expect(try tablet.readLine() == "ERR auth_required the token of this connection was revoked; closing")
        let file = try String(contentsOf: daemon.folder.appending(path: "tokens"), encoding: .utf8)
        #expect(!file.contains("tablet-7"))
        #expect(file.split(separator: "\n").count == Daemon.tokens.count + Daemon.boundTokens.count)
        let again = try daemon.client()
        #expect(errorCode(try again.request("HELLO \(token)")) == "auth_required")
        #expect(okObject(try again.request("HELLO front-token")) != nil)

        let unknown = try Daemon.run(["token", "revoke", "no-such", "--token-file", daemon.folder.appending(path: "tokens").path])
        #expect(unknown.status != 0)
        #expect(unknown.output.contains("nothing changed"))
    }

    /// A pid file left by a daemon that crashed may name a process that has
    /// since taken the pid; only a holder of the data dir's lock is signalled.
    @Test func aStalePidFileIsNeverSignalled() throws {
        let daemon = try Daemon()
        daemon.stop()
        let bystander = try Daemon.spawn("/bin/sleep", ["60"], output: "/dev/null")
        defer {
            kill(bystander, SIGKILL)
            var status: Int32 = 0
            waitpid(bystander, &status, 0)
        }
        try "\(bystander)\n".write(to: daemon.folder.appending(path: "recoveryd.pid"), atomically: true, encoding: .utf8)
        let run = try Daemon.run([
            "token", "new", "--role", "auditor", "--name", "late", "--token-file", daemon.folder.appending(path: "tokens").path,
            "--data-dir", daemon.folder.path,
        ])
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("no running daemon holds"), "\(run.output)")
        var status: Int32 = 0
        #expect(waitpid(bystander, &status, WNOHANG) == 0, "the process named by the stale pid file is still running")

        // The daemon, started again, holds the lock: it is the one signalled.
        try daemon.start()
        _ = try Self.newToken(daemon, role: "auditor", name: "later")
    }

    @Test func aTokenFileOthersMayWriteIsRefusedAtStartAndOnReload() throws {
        let daemon = try Daemon()
        let path = daemon.folder.appending(path: "tokens").path
        chmod(path, 0o666)
        kill(daemon.pid, SIGHUP)
        try waitFor("the refusal in the log") { daemon.log.contains("token file not read again") }
        #expect(daemon.log.contains("chmod go-w"))
        // The tokens in use are unchanged.
        #expect(okObject(try daemon.client().request("HELLO admin-token")) != nil)
        daemon.stop()

        chmod(path, 0o620)
        let start = try Daemon.run([
            "serve", "--listen", "127.0.0.1:0", "--database", daemon.conninfo, "--token-file", path, "--data-dir", daemon.folder.path,
        ])
        #expect(start.status != 0)
        #expect(start.output.contains("may be written by its group or by others (mode 620)"), "\(start.output)")
    }

    @Test func failedHellosAreLoggedWithThePeerAddress() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        #expect(errorCode(try client.request("HELLO not-a-token")) == "auth_required")
        try waitFor("the failed HELLO in the log") { daemon.log.contains("HELLO with an unknown token") }
        let line = daemon.log.split(separator: "\n").first { $0.contains("HELLO with an unknown token") } ?? ""
        #expect(line.contains("peer=127.0.0.1"), "\(line)")
        #expect(!line.contains("not-a-token"))
    }

    @Test func aPersonBoundTokenActsOnlyAsItsPerson() throws {
        let daemon = try Daemon()
        let admin = try daemon.client("admin")
        for (agent, role, allowance) in [("A-1", "agent", 10_000), ("SUP-1", "supervisor", 100_000)] {
            let event = #"{"event_id":"\#(Events.id(900 + allowance / 10_000))","type":"allowance","agent_id":"\#(agent)","role":"\#(role)","daily_limit":\#(allowance)}"#
            #expect(okObject(try admin.request("APPEND " + event)) != nil, "allowance for \(agent)")
        }
        let agentToken = try Self.newToken(daemon, role: "frontline", name: "a1-phone", agent: "A-1")
        let supervisorToken = try Self.newToken(daemon, role: "frontline", name: "sup1-phone", agent: "SUP-1")
        let a1 = try daemon.client()
        let hello = okObject(try a1.request("HELLO \(agentToken)"))
        #expect(hello?["agent"] as? String == "A-1")

        #expect(okObject(try a1.request("APPEND " + Events.complaint(1, caseID: "B-1", agent: "A-1"))) != nil)
        let asOther = try a1.request("APPEND " + Events.complaint(2, caseID: "B-2", agent: "A-2"))
        #expect(errorCode(asOther) == "forbidden")
        #expect(asOther.contains("bound to agent_id A-1"))
        // Within their own allowance: fine. Naming the supervisor: refused.
        #expect(okObject(try a1.request("APPEND " + Events.compensation(3, caseID: "B-1", amount: 5_000, agent: "A-1"))) != nil)
        let approval = try a1.request("APPEND " + Events.compensation(4, caseID: "B-1", amount: 50_000, agent: "A-1", approvedBy: "SUP-1"))
        #expect(errorCode(approval) == "forbidden")
        #expect(approval.contains("may not name SUP-1 in approved_by"))
        // The supervisor approves by recording it with their own token.
        let sup = try daemon.client()
        #expect(okObject(try sup.request("HELLO \(supervisorToken)")) != nil)
        #expect(okObject(try sup.request("APPEND " + Events.compensation(5, caseID: "B-1", amount: 50_000, agent: "SUP-1"))) != nil)
        // An app token (unbound) still records for any of its staff, as documented.
        let app = try daemon.client("frontline")
        #expect(okObject(try app.request("APPEND " + Events.compensation(6, caseID: "B-1", amount: 20_000, agent: "A-1", approvedBy: "SUP-1"))) != nil)
        #expect(okObject(try app.request("HELLO front-token"))?["agent"] == nil)
        // Nothing refused was recorded.
        #expect(okObject(try admin.request("BUDGET A-1"))?["spent"] as? Int == 5_000)
        #expect(okObject(try admin.request("BUDGET SUP-1"))?["spent"] as? Int == 70_000)
    }
}

/// `--log-format json` (docs/OPERATIONS.md, "Logs"): one JSON object per line, the same
/// fields as the text lines.
@Suite("JSON logs", .tags(.processes))
struct JSONLogTests {
    @Test func everyLineIsOneObjectWithTimeLevelLabelMessageAndMetadata() throws {
        let daemon = try Daemon(arguments: ["--log-format", "json"])
        #expect(errorCode(try daemon.client().request("HELLO wrong")) == "auth_required")
        let deadline = Date().addingTimeInterval(10)
        while !daemon.log.contains("HELLO with an unknown token"), Date() < deadline { usleep(50_000) }
        daemon.stop()
        let lines = daemon.log.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.count >= 3)
        var objects: [[String: Any]] = []
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object != nil, "not one JSON object: \(line)")
            if let object { objects.append(object) }
        }
        for object in objects {
            #expect(object["time"] is String && object["level"] is String && object["label"] as? String == "recoveryd" && object["message"] is String)
        }
        let listening = try #require(objects.first { $0["message"] as? String == "recoveryd listening" })
        #expect(listening["address"] as? String != nil)
        #expect(listening["level"] as? String == "info")
        let failed = try #require(objects.first { $0["message"] as? String == "HELLO with an unknown token" })
        #expect(failed["peer"] as? String == "127.0.0.1")
        #expect(failed["level"] as? String == "warning")
    }
}
