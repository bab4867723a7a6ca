import RecoveryTesting
import RecoveryWire
import Foundation
import Synchronization
import RecoveryClient

/// Latencies in microseconds, merged from every connection, with percentiles.
struct Latencies {
    var samples: [UInt32] = []

    mutating func merge(_ other: [UInt32]) { samples += other }

    /// The value at quantile `q` (0…1) of the sorted samples, in milliseconds.
    func percentile(_ q: Double, sorted: [UInt32]) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, Int((Double(sorted.count) * q).rounded(.up)) - 1)
        return Double(sorted[max(0, index)]) / 1_000
    }

    /// p50, p90, p99, p99.9 in milliseconds.
    var summary: [String: Double] {
        let sorted = samples.sorted()
        return [
            "p50_ms": percentile(0.5, sorted: sorted), "p90_ms": percentile(0.9, sorted: sorted),
            "p99_ms": percentile(0.99, sorted: sorted), "p99.9_ms": percentile(0.999, sorted: sorted),
        ]
    }
}

/// One connection's stream of realistic recoveries: complaint → apology →
/// one or two compensations well inside the day's allowance → follow-up.
struct CaseScript {
    let connection: Int
    private var caseNumber = 0
    private var step = 0
    private var compensations = 1
    private var rng = SystemRandomNumberGenerator()

    /// Distinguishes this process's cases from earlier runs on the same ledger.
    static let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)

    init(connection: Int) { self.connection = connection }

    /// True when the next event is a complaint.
    var opensCase: Bool { step == 0 }

    var currentCase: String { "bench-\(Self.run)-\(connection)-\(caseNumber)" }
    var agent: String { "ag-\(connection)-\(caseNumber % 64)" }

    mutating func next() -> String {
        let id = UUID().uuidString.lowercased()
        let caseID = currentCase
        defer {
            step += 1
            if step == 3 + compensations {
                step = 0
                caseNumber += 1
                compensations = Int.random(in: 1...2, using: &rng)
            }
        }
        switch step {
        case 0:
            return #"{"event_id":"\#(id)","type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"cust-\#(Self.run)-\#(caseNumber)","channel":"phone","category":"late delivery","severity":\#(Int.random(in: 1...5, using: &rng)),"baseline":\#(Int.random(in: 3...8, using: &rng)),"summary":"The order arrived two days late and the customer missed the event."}"#
        case 1:
            return #"{"event_id":"\#(id)","type":"apology","agent_id":"\#(agent)","case_id":"\#(caseID)","note":"Apologised on the phone."}"#
        case 2 + compensations:
            return #"{"event_id":"\#(id)","type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(Int.random(in: 2...10, using: &rng)),"would_recommend":\#(Int.random(in: 0...10, using: &rng))}"#
        default:
            return #"{"event_id":"\#(id)","type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(Int.random(in: 200...1_500, using: &rng)),"currency":"USD","kind":"credit"}"#
        }
    }
}

/// Drives appends over `connections` connections with `depth` requests in
/// flight on each, for `seconds`, optionally paced to `rate` events/s in all.
final class AppendLoad: Sendable {
    struct Result {
        var accepted = 0
        var refused = 0
        var errors: [String: Int] = [:]
        var latencies = Latencies()
        var seconds = 0.0
        var eventsPerSecond: Double { seconds > 0 ? Double(accepted + refused) / seconds : 0 }
    }

    private struct Shared {
        var result = Result()
        var knownCaseIDs: [String] = []
    }

    private let shared = Mutex(Shared())
    private let stopped = Atomic<Bool>(false)

    /// Ends the run before its deadline: each connection sends nothing more
    /// and returns once its answers are in.
    func stop() { stopped.store(true, ordering: .relaxed) }

    func run(host: String, port: Int, token: String, connections: Int, depth: Int, seconds: Double, rate: Double?) throws -> Result {
        let start = Date()
        let deadline = start.addingTimeInterval(seconds)
        var threads: [Thread] = []
        let finished = DispatchGroup()
        for index in 0..<connections {
            let connection = try LineClient(host: host, port: port, timeoutSeconds: 60)
            guard (try? connection.request("HELLO \(token)"))?.hasPrefix("OK") == true else { throw ClientError("HELLO refused") }
            finished.enter()
            let thread = Thread { [self] in
                drive(connection, index: index, depth: depth, deadline: deadline, interval: rate.map { Double(connections) / $0 })
                finished.leave()
            }
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
        finished.wait()
        return shared.withLock { shared in
            shared.result.seconds = Date().timeIntervalSince(start)
            return shared.result
        }
    }

    /// Up to 1,000 cases whose complaint was sent (for CASE queries).
    var knownCases: [String] { shared.withLock { $0.knownCaseIDs } }

    private func drive(_ connection: LineClient, index: Int, depth: Int, deadline: Date, interval: Double?) {
        var script = CaseScript(connection: index)
        var sentAt: [UInt64] = []
        var head = 0
        var latencies: [UInt32] = []
        latencies.reserveCapacity(100_000)
        var accepted = 0
        var refused = 0
        var errors: [String: Int] = [:]
        var nextSend = Date()
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        do {
            while true {
                let open = Date() < deadline && !stopped.load(ordering: .relaxed)
                while open && sentAt.count - head < depth {
                    if let interval {
                        let wait = nextSend.timeIntervalSinceNow
                        if wait > 0 {
                            if sentAt.count - head > 0 { break }  // read an answer while waiting
                            usleep(UInt32(wait * 1_000_000))
                        }
                        nextSend = max(nextSend, Date().addingTimeInterval(-1)).addingTimeInterval(interval)
                    }
                    let opens = script.opensCase
                    let caseID = script.currentCase
                    let line = "APPEND " + script.next() + "\n"
                    sentAt.append(now())
                    try connection.send(line)
                    if opens { shared.withLock { if $0.knownCaseIDs.count < 1_000 { $0.knownCaseIDs.append(caseID) } } }
                }
                if sentAt.count == head { break }
                guard let answer = try connection.readLine() else { break }
                latencies.append(UInt32(min(UInt64(UInt32.max), (now() - sentAt[head]) / 1_000)))
                head += 1
                if head > 4_096 {
                    sentAt.removeFirst(head)
                    head = 0
                }
                if answer.hasPrefix("OK") {
                    accepted += 1
                } else {
                    refused += 1
                    errors[String(answer.split(separator: " ").dropFirst().first ?? "?"), default: 0] += 1
                }
            }
        } catch {
            errors["client: \(error)", default: 0] += 1
        }
        shared.withLock { shared in
            shared.result.accepted += accepted
            shared.result.refused += refused
            shared.result.latencies.merge(latencies)
            for (key, value) in errors { shared.result.errors[key, default: 0] += value }
        }
    }
}
