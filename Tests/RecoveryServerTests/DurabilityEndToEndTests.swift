import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

@Suite("recoveryd: crashes, restarts and a database that goes away")
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
        let second = try Daemon.run([
            "serve", "--listen", "127.0.0.1:\(try Daemon.freePort())", "--database", daemon.conninfo,
            "--token-file", daemon.folder.appending(path: "tokens").path,
        ])
        #expect(second.status != 0)
        #expect(second.output.contains("another writer holds this ledger"), "\(second.output)")
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
        // While the database is down nothing is acknowledged.
        #expect(load.count == before)
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
        var answered = 1
        var acknowledged: [Int: String] = [:]
        while let line = try client.readLine() {
            answered += 1
            if let object = okObject(line) { acknowledged[object["position"] as! Int] = object["hash"] as? String }
        }
        // Every request read before the shutdown got its answer; the rest were never read.
        #expect(answered >= 1)
        try daemon.start()
        try Self.expectIntact(daemon, acknowledged: acknowledged)
    }
}
