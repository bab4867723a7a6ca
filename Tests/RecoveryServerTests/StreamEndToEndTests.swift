import Crypto
import Foundation
import LedgerStore
import RecoveryDomain
import PostgresTestSupport
import Testing

@Suite("recoveryd over TCP: replay, subscriptions and the chain", .tags(.processes))
struct StreamEndToEndTests {
    /// The chain rule of docs/EVENTS.md over the lines of a REPLAY.
    static func chain(from previous: String, over payloads: [String]) -> [String] {
        var hash = Hex.decode(previous)!
        return payloads.map { payload in
            var hasher = SHA256()
            hasher.update(data: hash)
            hasher.update(data: Array(payload.utf8))
            hash = Array(hasher.finalize())
            return Hex.encode(hash)
        }
    }

    @Test func aReplayVerifiesByTheChainRuleAndMatchesEveryReceipt() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        var receipts: [String] = []
        for n in 1...40 {
            let caseID = "K-\((n - 1) / 4)"
            let event = n % 4 == 1 ? Events.complaint(n, caseID: caseID) : Events.followUp(n, caseID: caseID, satisfaction: n % 11)
            let answer = try #require(okObject(try front.request("APPEND " + event)))
            receipts.append(try #require(answer["hash"] as? String))
        }
        let auditor = try daemon.client("auditor")
        let (events, final) = try auditor.stream("REPLAY 1")
        let summary = try #require(okObject(final))
        #expect(events.count == 40)
        #expect(summary["count"] as? Int == 40)
        #expect(summary["prev_hash"] as? String == String(repeating: "0", count: 64))
        let hashes = Self.chain(from: summary["prev_hash"] as! String, over: events)
        #expect(hashes == receipts)
        #expect(hashes.last == summary["hash"] as? String)
        // A window in the middle carries the hash before it.
        let (window, windowFinal) = try auditor.stream("REPLAY 11 20")
        let windowSummary = try #require(okObject(windowFinal))
        #expect(windowSummary["prev_hash"] as? String == receipts[9])
        #expect(Self.chain(from: receipts[9], over: window) == Array(receipts[10..<20]))
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == 40)
        #expect(okObject(try auditor.request("VERIFY 5 9"))?["verified"] as? Int == 5)
    }

    @Test func verifyNamesATamperedPosition() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        for n in 1...10 { _ = try front.request("APPEND " + Events.complaint(n, caseID: "K-\(n)")) }
        try PGConnection(daemon.conninfo).execute(
            """
            ALTER TABLE events DISABLE TRIGGER USER;
            UPDATE events SET payload = replace(payload, '"severity":3', '"severity":4') WHERE position = 7;
            ALTER TABLE events ENABLE TRIGGER USER;
            """)
        let answer = try daemon.client("auditor").request("VERIFY")
        #expect(answer.hasPrefix("ERR chain_broken 7 "), "\(answer)")
    }

    @Test func aSubscriberCatchesUpThenGetsLiveEventsWithNoGapOrDuplicate() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        for n in 1...5 { _ = try front.request("APPEND " + Events.complaint(n, caseID: "K-\(n)")) }
        let subscriber = try daemon.client("auditor")
        try subscriber.send("SUBSCRIBE 2\n")
        // Appends racing with the catch-up, from another connection.
        let writer = Thread {
            for n in 6...205 { _ = try? front.request("APPEND " + Events.complaint(n, caseID: "K-\(n)")) }
        }
        writer.start()
        var positions: [Int] = []
        while positions.count < 204 {
            let line = try #require(try subscriber.readLine())
            #expect(line.hasPrefix("EVENT "), "\(line)")
            let object = try #require((try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any])
            positions.append(try #require(object["position"] as? Int))
        }
        #expect(positions == Array(2...205))
        #expect(try subscriber.request("PING") == #"OK {"pong":true}"#)
        #expect(errorCode(try subscriber.request("CASE K-1")) == "bad_request")
        let final = try #require(okObject(try subscriber.request("UNSUBSCRIBE")))
        #expect(final["last"] as? Int == 205)
        #expect(final["count"] as? Int == 204)
        // Usable again after UNSUBSCRIBE.
        #expect(okObject(try subscriber.request("CASE K-1")) != nil)
    }

    /// A REPLAY reads its window with one streamed query on a connection it
    /// holds to the end: as many at once as the read pool has connections
    /// (4), the rest by page queries, every one the same answer. A REPLAY cut
    /// off mid-way lets go of its query.
    @Test func aReplayIsOneStreamedQueryThatLetsGoOfItsConnection() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        // Enough bytes that a reader that stops reading holds the daemon back
        // with its query still running, whatever the sockets buffer.
        let summary = String(repeating: "s", count: 1_900)
        let total = 5_000
        var batch = ""
        for n in 1...total {
            batch += "APPEND " + Events.complaint(n, caseID: "K-\(n)").replacingOccurrences(of: "\"severity\":3", with: "\"severity\":3,\"summary\":\"\(summary)\"") + "\n"
        }
        try front.send(batch)
        for _ in 1...total { #expect(try front.readLine()?.hasPrefix("OK ") == true) }
        let database = try PGConnection(daemon.conninfo)
        func copies() throws -> Int {
            let result = try database.query(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY (SELECT position, payload, hash FROM events%'")
            return Int(result.string(0, 0) ?? "") ?? -1
        }
        func stalledReplay() throws -> LineClient {
            let reader = try LineClient(port: daemon.port, receiveBuffer: 4_096)
            _ = try reader.request("HELLO \(Daemon.tokens["auditor"]!)")
            try reader.send("REPLAY 1\n")
            #expect(try reader.readLine()?.hasPrefix("EVENT ") == true)
            return reader
        }
        let readers = try (1...5).map { _ in try stalledReplay() }
        try waitFor("four REPLAYs to hold a streamed query each") { try copies() == 4 }
        #expect(try copies() == 4, "the fifth reads pages")
        /// The rest of a stalled REPLAY: its events (with the one read) and its summary.
        func rest(of reader: LineClient) throws -> (events: Int, final: String) {
            var events = 1
            while let line = try reader.readLine() {
                guard line.hasPrefix("EVENT ") else { return (events, line) }
                events += 1
            }
            return (events, "the connection closed")
        }
        var summaries: Set<String> = []
        for reader in readers {
            let (events, final) = try rest(of: reader)
            let answer = try #require(okObject(final), "\(final)")
            #expect(events == total && answer["count"] as? Int == total)
            summaries.insert(try #require(answer["hash"] as? String))
        }
        #expect(summaries.count == 1)
        try waitFor("the streams to end with their REPLAYs") { try copies() == 0 }

        // Cut off mid-way: the query ends with the connection, and a stream is free again.
        let gone = try stalledReplay()
        try waitFor("the REPLAY's query to start") { try copies() == 1 }
        gone.close()
        try waitFor("the cut-off REPLAY's query to end") { try copies() == 0 }
        let again = try stalledReplay()
        try waitFor("a new REPLAY to stream") { try copies() == 1 }
        let (events, final) = try rest(of: again)
        #expect(events == total)
        #expect(okObject(final)?["hash"] as? String == summaries.first)
    }

    @Test func aSlowSubscriberIsCutOffWithTheLastPositionSentNeverSkipped() throws {
        let metricsPort = try Daemon.freePort()
        let daemon = try Daemon(arguments: ["--subscriber-buffer", "50", "--metrics-listen", "127.0.0.1:\(metricsPort)"])
        let subscriber = try LineClient(port: daemon.port, receiveBuffer: 4_096)
        _ = try subscriber.request("HELLO \(Daemon.tokens["auditor"]!)")
        try subscriber.send("SUBSCRIBE 1\n")
        // Fill the subscriber's socket without reading it.
        let front = try daemon.client("frontline")
        let summary = String(repeating: "s", count: 1_900)
        var batch = ""
        for n in 1...6_000 {
            batch += "APPEND " + Events.complaint(n, caseID: "K-\(n)").replacingOccurrences(of: "\"severity\":3", with: "\"severity\":3,\"summary\":\"\(summary)\"") + "\n"
        }
        try front.send(batch)
        for _ in 1...6_000 { _ = try front.readLine() }
        var last = 0
        var final: String?
        while let line = try subscriber.readLine() {
            if line.hasPrefix("EVENT ") {
                let object = try #require((try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any])
                let position = try #require(object["position"] as? Int)
                #expect(position == last + 1)
                last = position
            } else {
                final = line
                break
            }
        }
        let ending = try #require(final)
        #expect(ending.hasPrefix("ERR slow_consumer "), "\(ending)")
        let reported = Int(ending.split(separator: " ")[2]) ?? -1
        #expect(reported == last, "every event up to the reported position arrived")
        #expect(last < 6_000)
        #expect(try subscriber.readLine() == nil)
        // Counted for operators, and no longer a subscriber.
        try waitFor("the metrics to show the cut-off subscriber") {
            let scraped = MetricsEndToEndTests.samples(try MetricsEndToEndTests.get(metricsPort, "/metrics").body)
            return scraped["recoveryd_slow_consumer_closes_total"] == 1 && scraped["recoveryd_subscribers"] == 0
        }
    }
}
