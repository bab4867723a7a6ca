import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryClient
import Testing

/// `recoveryd serve --follow` on a hot-standby replica made with
/// `pg_basebackup -R` (issue 12): every read verb, subscriptions that follow
/// the replica, `ERR read_only` for appends, and its lag in `HELLO`.
@Suite("A follower on a hot-standby replica", .tags(.processes))
struct FollowerEndToEndTests {
    @Test func itServesReadsAndSubscriptionsFromTheReplica() throws {
        let primary = try TestPostgres.dedicated()
        let conninfo = try primary.cluster.createDatabase("ledger")
        let writer = try Daemon(conninfo: conninfo)
        let front = try writer.client("frontline")
        for n in 1...4 {
            let event = n % 2 == 0 ? Events.compensation(n, caseID: "F-\(n - 1)", amount: 300) : Events.complaint(n, caseID: "F-\(n)")
            #expect(okObject(try front.request("APPEND " + event)) != nil)
        }

        let folder = try BackupEndToEndTests.folder("replica")
        _ = try BackupEndToEndTests.run(
            primary.cluster, "pg_basebackup",
            ["-h", primary.cluster.directory.path, "-U", "postgres", "-D", folder.appending(path: "data").path, "-X", "stream", "-R", "-c", "fast"])
        try BackupEndToEndTests.chown(folder)
        chmod(folder.appending(path: "data").path, 0o700)
        let replica = try LocalCluster(directory: folder)
        try replica.start()
        defer {
            try? replica.stop(mode: "immediate")
            try? FileManager.default.removeItem(at: folder)
        }
        let metricsPort = try Daemon.freePort()
        let follower = try Daemon(
            conninfo: replica.conninfo(database: "ledger"), arguments: ["--follow", "--metrics-listen", "127.0.0.1:\(metricsPort)"])
        let reader = try follower.client()
        let hello = try #require(okObject(try reader.request("HELLO audit-token")))
        #expect(hello["mode"] as? String == "follower")
        #expect(hello.keys.contains("lag_positions") && hello.keys.contains("lag_seconds"))
        try waitFor("the follower's lag to be measured as none") {
            okObject(try reader.request("HELLO audit-token"))?["lag_positions"] as? Int == 0
        }

        // Ready: it can serve reads; its lag is a metric.
        let ready = try MetricsEndToEndTests.get(metricsPort, "/readyz")
        #expect(ready.status == 200 && ready.body.contains("follower"), "\(ready)")
        let scraped = MetricsEndToEndTests.samples(try MetricsEndToEndTests.get(metricsPort, "/metrics").body)
        #expect(scraped["recoveryd_replication_lag_positions"] == 0)
        #expect(scraped["recoveryd_replication_lag_seconds"] != nil)
        #expect(scraped["recoveryd_writer_holds_lock"] == 0)

        let refused = try follower.client("frontline").request("APPEND " + Events.complaint(9, caseID: "F-9"))
        #expect(errorCode(refused) == "read_only", "\(refused)")
        #expect(okObject(try follower.client("frontline").request("CASE F-1"))?["compensation_net"] as? Int == 300)
        #expect(okObject(try follower.client("finance").request("BUDGET A-7"))?["spent"] as? Int == 600)
        let day = try #require(okObject(try front.request("BUDGET A-7"))?["day"] as? String)
        let finance = try follower.client("finance")
        #expect(okObject(try finance.request("BUDGETS \(day)"))?["total_spent"] as? Int == 600)
        let outcomes = try finance.request("OUTCOMES by=channel")
        #expect(outcomes.hasPrefix("OK {"))
        #expect(try outcomes == writer.client("finance").request("OUTCOMES by=channel"))
        let head = try #require(okObject(try reader.request("HEAD")))
        #expect(head["mode"] as? String == "follower")
        #expect(head["signature"] == nil)

        // A subscriber on the follower: the catch-up, then what the writer records next.
        let subscriber = try follower.client("auditor")
        try subscriber.send("SUBSCRIBE 1\n")
        for position in 1...4 { #expect(try subscriber.readLine()?.contains(#""position":\#(position)"#) == true) }
        let sent = Date()
        #expect(okObject(try front.request("APPEND " + Events.followUp(5, caseID: "F-1", satisfaction: 9))) != nil)
        #expect(try subscriber.readLine()?.contains(#""position":5"#) == true)
        let delivered = Date().timeIntervalSince(sent)
        print("follower: an event committed on the writer reached a subscriber on the follower in \(String(format: "%.2f", delivered)) s")
        #expect(delivered < 5)

        // The follower's REPLAY ends at the writer's hash; its VERIFY agrees.
        let writerHash = try #require(okObject(try writer.client("auditor").request("VERIFY"))?["hash"] as? String)
        let (events, final) = try follower.client("auditor").stream("REPLAY 1")
        #expect(events.count == 5)
        #expect(okObject(final)?["hash"] as? String == writerHash)
        #expect(okObject(try reader.request("VERIFY"))?["hash"] as? String == writerHash)
    }
}
