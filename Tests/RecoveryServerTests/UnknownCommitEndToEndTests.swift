import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

/// The daemon against a COMMIT that never returns: a cluster whose
/// `synchronous_standby_names` names a standby that does not exist, as after
/// a failover leaves the writer on a primary whose standby is gone (issue 15).
@Suite("recoveryd: a commit whose outcome is unknown", .tags(.processes))
struct UnknownCommitEndToEndTests {
    @Test func aCommitPastItsDeadlineIsAnsweredUnavailableAndItsRetryAnswersTheOriginalReceipt() throws {
        let dedicated = try TestPostgres.dedicated()
        let db = try dedicated.cluster.createDatabase("ledger")
        let daemon = try Daemon(conninfo: db, arguments: ["--commit-timeout", "1"])
        defer { daemon.stop() }
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "G-1"))) != nil)
        try dedicated.waitForAGhostStandby(true)
        var started = Date()
        let unknown = try front.request("APPEND " + Events.complaint(2, caseID: "G-2"))
        #expect(errorCode(unknown) == "unavailable", "\(unknown)")
        #expect(unknown.contains("the outcome of the commit is unknown"), "\(unknown)")
        #expect(Date().timeIntervalSince(started) < 5, "answered after the commit deadline, not never")
        // While the standby is missing nothing is acknowledged, and nothing waits long.
        for n in 3...5 {
            started = Date()
            let answer = try front.request("APPEND " + Events.complaint(n, caseID: "G-\(n)"))
            #expect(errorCode(answer) == "unavailable", "\(answer)")
            #expect(Date().timeIntervalSince(started) < 12)
        }
        #expect(daemon.log.contains("append batch outcome unknown"))
        // The standby problem goes away: the daemon recovers by itself, and the
        // retried append answers the receipt of the commit that did land.
        try dedicated.waitForAGhostStandby(false)
        var retried: [String: Any]?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let ok = okObject(try front.request("APPEND " + Events.complaint(2, caseID: "G-2"))) {
                retried = ok
                break
            }
            usleep(300_000)
        }
        let receipt = try #require(retried, "the daemon did not recover: \(daemon.log.suffix(1_500))")
        #expect(receipt["position"] as? Int == 2)
        #expect(receipt["duplicate"] as? Bool == true)
        let auditor = try daemon.client("auditor")
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == 2)
    }

    @Test func sigtermWhileACommitHangsAnswersEveryoneAndExitsWithinTheGrace() throws {
        let dedicated = try TestPostgres.dedicated()
        let db = try dedicated.cluster.createDatabase("ledger")
        let daemon = try Daemon(conninfo: db, arguments: ["--commit-timeout", "60", "--shutdown-grace", "2"])
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "H-1"))) != nil)
        try dedicated.waitForAGhostStandby(true)
        try front.send("APPEND " + Events.complaint(2, caseID: "H-2") + "\n")
        usleep(500_000)  // the commit is waiting for the standby
        let started = Date()
        let status = daemon.stop(signal: SIGTERM)
        #expect(Date().timeIntervalSince(started) < 8, "SIGTERM waited for the hanging commit")
        #expect(status == 0)
        let answer = try #require(try front.readLine())
        #expect(errorCode(answer) == "unavailable", "\(answer)")
        #expect(answer.contains("outcome of this request is unknown"), "\(answer)")
        try dedicated.waitForAGhostStandby(false)
    }
}
