import Foundation
import LedgerStore
import RecoveryDomain
import Testing

/// Appends from several clients, recorded as the clients saw them.
final class FailoverLoad: @unchecked Sendable {
    private let lock = NSLock()
    private var acknowledged: [Int: String] = [:]
    private var oks: [Date] = []
    private var refusals: [String] = []
    private var longestWait: TimeInterval = 0
    private var running = true
    private var threads: [Thread] = []

    init(port: Int, clients: Int) {
        for client in 0..<clients {
            let thread = Thread { [self] in run(port: port, client: client) }
            threads.append(thread)
            thread.start()
        }
    }

    private func run(port: Int, client: Int) {
        var connection: LineClient?
        var n = 0
        while isRunning {
            do {
                if connection == nil {
                    let fresh = try LineClient(port: port, timeoutSeconds: 60)
                    _ = try fresh.request("HELLO \(Daemon.tokens["frontline"]!)")
                    connection = fresh
                }
                // Four in flight, then their four answers.
                var batch = ""
                for k in 1...4 { batch += "APPEND " + Events.complaint(n + k, caseID: "F\(client)-\(n + k)", salt: 40 + client) + "\n" }
                let sent = Date()
                try connection!.send(batch)
                for _ in 1...4 {
                    let line = try connection!.readLine() ?? ""
                    record(line, waited: Date().timeIntervalSince(sent))
                }
                n += 4
            } catch {
                connection = nil
                usleep(100_000)
            }
        }
    }

    private func record(_ line: String, waited: TimeInterval) {
        lock.lock()
        defer { lock.unlock() }
        longestWait = max(longestWait, waited)
        if let object = okObject(line), let position = object["position"] as? Int, let hash = object["hash"] as? String {
            acknowledged[position] = hash
            oks.append(Date())
        } else {
            refusals.append(line)
        }
    }

    private var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return running
    }

    func stop() {
        lock.lock()
        running = false
        lock.unlock()
        while threads.contains(where: { !$0.isFinished }) { usleep(50_000) }
    }

    var snapshot: (acknowledged: [Int: String], oks: [Date], refusals: [String], longestWait: TimeInterval) {
        lock.lock()
        defer { lock.unlock() }
        return (acknowledged, oks, refusals, longestWait)
    }
}

/// The reproduction of issue 15 with pg_auto_failover: SIGKILL of the
/// primary's postmaster while clients append through a multi-host conninfo.
@Suite("recoveryd through a real PostgreSQL failover (pg_auto_failover)", .tags(.processes))
struct FailoverEndToEndTests {
    @Test func theWriterFollowsAFailoverWithNoAcknowledgedEventLostAndNoFalseOK() throws {
        // 10 s instead of pg_auto_failover's default 30 s: with the default,
        // the monitor alone keeps the standby read-only for 30 s when the old
        // primary's keeper restarts it and then cannot stop it in time (seen
        // here); what is measured below is the daemon's part.
        let formation = try AutoFailoverFormation(primaryDemoteTimeout: 10)
        let daemon = try Daemon(conninfo: formation.uri, arguments: ["--commit-timeout", "3"])
        defer { daemon.stop() }
        let load = FailoverLoad(port: daemon.port, clients: 4)
        let deadline = Date().addingTimeInterval(30)
        while load.snapshot.acknowledged.count < 500 && Date() < deadline { usleep(100_000) }
        #expect(load.snapshot.acknowledged.count >= 500, "appends before the failover: \(daemon.log.suffix(1_000))")

        let killed = Date()
        try formation.killPostmaster(node: 1)
        // Usually the monitor promotes node 2. Under heavy load node 1's keeper
        // may restart its postmaster before the monitor calls it failed (seen
        // once in CI): then node 1 takes writes again and there is no
        // failover. Either way the daemon must find the writable node, and no
        // acknowledged event may be lost. A node may also take writes for a
        // moment and be stopped again (node 1 restarted by its keeper, then
        // demoted by the monitor; seen once in CI): what is timed is the span
        // in which one node has kept taking writes, from its start.
        var writable: (node: Int, since: Date)?
        while Date().timeIntervalSince(killed) < 120 {
            let node = [2, 1].first(where: { formation.isWritable(node: $0) })
            if node != writable?.node { writable = node.map { ($0, Date()) } }
            if let writable, load.snapshot.oks.contains(where: { $0 > writable.since }) { break }
            usleep(100_000)
        }
        let (primary, promoted) = try #require(writable, "no node took writes 120 s after the kill: \(formation.events)")
        let firstOK = try #require(
            load.snapshot.oks.first { $0 > promoted },
            "no OK on node \(primary), writable since \(promoted): \(formation.events)\n\(daemon.log.suffix(2_000))")
        let seconds = { (from: Date, to: Date) in String(format: "%.1f", to.timeIntervalSince(from)) }
        print("failover: kill → node \(primary) writable \(seconds(killed, promoted)) s, → first OK \(seconds(killed, firstOK)) s (daemon's part \(seconds(promoted, firstOK)) s)\(primary == 1 ? "; node 1 was restarted in place, no failover" : "")")
        #expect(firstOK.timeIntervalSince(killed) < 60, "first OK \(seconds(killed, firstOK)) s after the kill: \(formation.events)")
        // A commit in flight on the killed server may first wait out its 3 s
        // deadline (--commit-timeout 3); from then, or from the promotion if
        // later, the daemon has 5 s to be taking appends again.
        let ready = max(promoted, killed.addingTimeInterval(3))
        #expect(firstOK.timeIntervalSince(ready) < 5, "the daemon took \(seconds(ready, firstOK)) s to use the writable node")
        usleep(1_000_000)
        load.stop()

        let (acknowledged, _, refusals, longestWait) = load.snapshot
        // No answer waited past the bounds (docs/OPERATIONS.md): never forever.
        #expect(longestWait < 20, "an answer took \(longestWait) s")
        #expect(refusals.allSatisfy { errorCode($0) == "unavailable" }, "\(refusals.prefix(3))")
        // Every acknowledged event is on the new primary at its position and hash.
        let auditor = try daemon.client("auditor")
        let (events, final) = try auditor.stream("REPLAY 1")
        let summary = try #require(okObject(final))
        let hashes = StreamEndToEndTests.chain(from: summary["prev_hash"] as! String, over: events)
        let missing = acknowledged.filter { position, hash in position > hashes.count || hashes[position - 1] != hash }
        #expect(missing.isEmpty, "acknowledged but lost or changed: \(missing.keys.sorted().prefix(10))")
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == events.count)
        // The budgets and cases equal a rebuild from the log, on whichever node
        // takes writes: the formation may still be settling after the load
        // stopped (seen in CI: the node restarted again, "the database system
        // is starting up"), so a refused connection is tried again.
        var rebuild: (status: Int32, output: String) = (-1, "no node took writes within 90 s: \(formation.events)")
        let settled = Date().addingTimeInterval(90)
        repeat {
            if let node = [primary, 3 - primary].first(where: { formation.isWritable(node: $0) }) {
                rebuild = try Daemon.run(["rebuild", "--check", "--database", formation.conninfo(node: node)])
                if rebuild.status == 0 || !rebuild.output.contains("could not connect") { break }
            }
            usleep(500_000)
        } while Date() < settled
        #expect(rebuild.status == 0 && rebuild.output.contains("match the log"), "\(rebuild.output)")
    }
}
