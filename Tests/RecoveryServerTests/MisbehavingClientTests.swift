import Foundation
import LedgerStore
import RecoveryDomain
import Testing

/// The four ways one careless client hurt everyone else, measured against the
/// daemon before its connection core was rebuilt (issue 9), each against the
/// real `recoveryd` over TCP.
@Suite("recoveryd over TCP: one client never degrades another", .tags(.processes))
struct MisbehavingClientTests {
    /// Resident memory of a process in KiB (Linux /proc).
    static func residentKiB(_ pid: pid_t) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// Appends `count` complaints with a `summary` of `padding` bytes, pipelined.
    static func fill(_ daemon: Daemon, count: Int, padding: Int) throws {
        let front = try daemon.client("frontline")
        let summary = String(repeating: "s", count: padding)
        var sent = 0
        while sent < count {
            let chunk = min(500, count - sent)
            var lines = ""
            for n in sent..<(sent + chunk) {
                lines += "APPEND " + Events.complaint(n + 1, caseID: "F-\(n + 1)")
                    .replacingOccurrences(of: "\"severity\":3", with: "\"severity\":3,\"summary\":\"\(summary)\"") + "\n"
            }
            try front.send(lines)
            for _ in 0..<chunk {
                let answer = try #require(try front.readLine())
                #expect(answer.hasPrefix("OK "), "\(answer)")
            }
            sent += chunk
        }
    }

    /// Before: 12 MB of `X\n` from a client that never reads took the daemon
    /// from 101 MB to 816 MB. Now reading stops once its answers are not read.
    @Test func aClientThatWritesAndNeverReadsCannotBloatTheDaemon() throws {
        let daemon = try Daemon(arguments: ["--hello-timeout", "120", "--write-timeout", "120"])
        usleep(300_000)
        let before = Self.residentKiB(daemon.pid)
        let flooder = try LineClient(port: daemon.port, receiveBuffer: 4_096, sendTimeoutSeconds: 3)
        let chunk = String(repeating: "X\n", count: 32_768)  // 64 KiB of requests
        var sent = 0
        while sent < 64 << 20 {
            do {
                try flooder.send(chunk)
            } catch {
                break  // the server stopped reading
            }
            sent += chunk.utf8.count
        }
        let grown = Self.residentKiB(daemon.pid) - before
        #expect(sent < 32 << 20, "the server kept reading \(sent) bytes from a client that reads nothing")
        #expect(grown < 64 << 10, "RSS grew by \(grown) KiB")
        // Everyone else is served meanwhile.
        #expect(try daemon.client("auditor").request("PING") == #"OK {"pong":true}"#)
        // And the flooder's answers are all there, in order, when it reads.
        var answers = 0
        while answers < 1_000, let line = try flooder.readLine() {
            #expect(line.hasPrefix("ERR unknown_command "), "\(line)")
            answers += 1
        }
        #expect(answers == 1_000)
    }

    /// Before: four auditors that sent `REPLAY 1` and stopped reading held all
    /// four read-pool threads, and another client's CASE and OUTCOMES went
    /// unanswered. Now no thread but the connection's own loop waits on it.
    @Test func auditorsThatStopReadingCannotHoldUpAnotherClientsQueries() throws {
        let daemon = try Daemon(arguments: ["--write-timeout", "4"])
        try Self.fill(daemon, count: 4_000, padding: 2_000)  // 8 MB of replay each
        let auditors = try (0..<6).map { _ in try LineClient(port: daemon.port, timeoutSeconds: 30, receiveBuffer: 4_096) }
        for auditor in auditors {
            #expect(try auditor.request("HELLO \(Daemon.tokens["auditor"]!)").hasPrefix("OK "))
            try auditor.send("REPLAY 1\n")
        }
        usleep(500_000)
        let finance = try LineClient(port: daemon.port, timeoutSeconds: 3)
        #expect(try finance.request("HELLO \(Daemon.tokens["finance"]!)").hasPrefix("OK "))
        for _ in 0..<5 {
            #expect(okObject(try finance.request("CASE F-17"))?["case_id"] as? String == "F-17")
            #expect(okObject(try finance.request("OUTCOMES"))?["cases"] as? Int == 4_000)
        }
        // The auditors that never read are cut off after write_timeout; what
        // each received is the log from position 1 without a gap.
        usleep(5_000_000)
        for auditor in auditors {
            var last = 0
            var ending: String?
            while let line = try auditor.readLine() {
                guard line.hasPrefix("EVENT ") else {
                    ending = line
                    break
                }
                let object = try #require((try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any])
                let position = try #require(object["position"] as? Int)
                #expect(position == last + 1)
                last = position
            }
            // It was sent the start of the log (what fitted its buffers), then cut off.
            #expect(last > 0, "the auditor received no event at all")
            #expect(last < 4_000, "a client that read nothing for the write timeout was not cut off")
            // The goodbye, when it fitted behind the events: the last position sent.
            if let ending { #expect(ending.hasPrefix("ERR slow_consumer \(last) nothing was read for 4 s; resume with REPLAY \(last + 1)"), "\(ending)") }
        }
        #expect(daemon.log.contains("slow consumer cut off"))
    }

    /// Before: three of eight auditors subscribing 0.25 s apart during appends
    /// skipped thousands of events at the switch from catch-up to live.
    @Test func subscribersJoiningAtRandomMomentsReceiveExactlyOneToN() throws {
        let daemon = try Daemon()
        let perWriter = 1_500
        let writers = 3
        let total = perWriter * writers
        let port = daemon.port
        @Sendable func client(_ role: String) throws -> LineClient {
            let client = try LineClient(port: port)
            _ = try client.request("HELLO \(Daemon.tokens[role]!)")
            return client
        }
        let appenders = (0..<writers).map { index in
            Thread {
                guard let front = try? client("frontline") else { return }
                var n = 0
                while n < perWriter {
                    var lines = ""
                    for k in n..<min(perWriter, n + 50) {
                        lines += "APPEND " + Events.complaint(k, caseID: "W\(index)-\(k)", salt: index + 1) + "\n"
                    }
                    try? front.send(lines)
                    for _ in n..<min(perWriter, n + 50) { _ = try? front.readLine() }
                    n += 50
                }
            }
        }
        appenders.forEach { $0.start() }
        let received = Answers()
        let subscribers = (0..<8).map { index in
            let delay = UInt32.random(in: 0...1_500_000)
            return Thread {
                usleep(delay)
                guard let auditor = try? client("auditor") else { return }
                try? auditor.send("SUBSCRIBE 1\n")
                var positions: [Int] = []
                while positions.count < total, let line = try? auditor.readLine(), line.hasPrefix("EVENT ") {
                    let object = (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8))) as? [String: Any]
                    positions.append(object?["position"] as? Int ?? -1)
                }
                let final = (try? auditor.request("UNSUBSCRIBE")) ?? "no answer"
                received.add("\(index) \(positions == Array(1...total)) \(positions.count) \(final)")
            }
        }
        subscribers.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(120)
        while received.all.count < 8 && Date() < deadline { usleep(100_000) }
        #expect(received.all.count == 8)
        for line in received.all {
            #expect(line.contains(" true \(total) OK {\"count\":\(total),\"last\":\(total),"), "\(line)")
        }
    }

    /// The writer's queue is bounded: at `max_queue`, connections hold their
    /// appends back and stop reading; nothing is lost or reordered.
    @Test func aFullWriterQueueHoldsAppendsBackWithNothingLost() throws {
        let daemon = try Daemon(arguments: ["--max-queue", "2", "--max-batch", "1"])
        let port = daemon.port
        let results = Answers()
        let threads = (0..<3).map { client in
            Thread {
                guard let front = try? LineClient(port: port, timeoutSeconds: 60),
                    (try? front.request("HELLO \(Daemon.tokens["frontline"]!)")) != nil
                else { return }
                var lines = ""
                for n in 1...100 { lines += "APPEND " + Events.complaint(n, caseID: "Q\(client)-\(n)", salt: 60 + client) + "\n" }
                try? front.send(lines)
                var last = 0
                for _ in 1...100 {
                    let position = (try? front.readLine()).flatMap { $0.flatMap(okObject)?["position"] as? Int } ?? -1
                    results.add(position > last ? "ok \(position)" : "bad \(position)")
                    last = position
                }
            }
        }
        threads.forEach { $0.start() }
        let deadline = Date().addingTimeInterval(120)
        while results.all.count < 300 && Date() < deadline { usleep(100_000) }
        let all = results.all
        #expect(all.count == 300)
        #expect(all.allSatisfy { $0.hasPrefix("ok ") }, "\(all.filter { !$0.hasPrefix("ok ") }.prefix(3))")
        #expect(Set(all).count == 300, "every append got its own position")
    }

    /// Before: a connection that never said HELLO stayed for the idle timeout
    /// (300 s), any byte reset it, and nothing capped such connections.
    @Test func connectionsThatNeverAuthenticateAreTimedOutCappedAndLogged() throws {
        let daemon = try Daemon(arguments: [
            "--hello-timeout", "2", "--max-unauthenticated", "3", "--max-connections-per-peer", "6", "--max-failed-hellos", "3",
            "--max-unauthenticated-per-peer", "3",
        ])
        usleep(300_000)
        // Bytes do not keep an unauthenticated connection open.
        let chatty = try daemon.client()
        let started = Date()
        var lines: [String] = []
        while Date().timeIntervalSince(started) < 10 {
            guard (try? chatty.send("PING\n")) != nil, let line = try chatty.readLine() else { break }
            lines.append(line)
            if !line.hasPrefix("OK") { break }
            usleep(200_000)
        }
        #expect(lines.last == "ERR timeout no HELLO within 2 s; closing")
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try chatty.readLine() == nil)
        usleep(800_000)  // a closing connection reads and drops input for 0.5 s after its FIN

        // At most three from one peer wait for HELLO at once (the pool holds three too).
        let waiting = try (0..<3).map { _ in try daemon.client() }
        for client in waiting { #expect(try client.request("PING") == #"OK {"pong":true}"#) }
        let refused = try daemon.client()
        #expect(try refused.readLine()?.hasPrefix("ERR unavailable too many connections from 127.0.0.1 waiting for HELLO (limit 3)") == true)
        #expect(try refused.readLine() == nil)
        // A HELLO frees a place.
        #expect(try waiting[0].request("HELLO \(Daemon.tokens["finance"]!)").hasPrefix("OK "))
        let admitted = try daemon.client()
        #expect(try admitted.request("PING") == #"OK {"pong":true}"#)
        #expect(try admitted.request("HELLO \(Daemon.tokens["finance"]!)").hasPrefix("OK "))

        // Six from one address at once; the seventh is refused.
        let more = try (0..<2).map { _ in try daemon.client("finance") }
        #expect(try more[1].request("PING") == #"OK {"pong":true}"#)
        let seventh = try daemon.client()
        #expect(try seventh.readLine()?.hasPrefix("ERR unavailable too many connections from 127.0.0.1 (limit 6)") == true)

        // Failed HELLOs are logged with the peer, and the third closes.
        let guesser = waiting[1]
        #expect(try guesser.request("HELLO guess-1") == "ERR auth_required unknown token")
        #expect(try guesser.request("HELLO guess-2") == "ERR auth_required unknown token")
        #expect(try guesser.request("HELLO guess-3") == "ERR auth_required unknown token; 3 failed HELLOs, closing")
        #expect(try guesser.readLine() == nil)
        #expect(daemon.log.contains("HELLO with an unknown token"))
        #expect(daemon.log.contains("peer=127.0.0.1"))
    }
}
