import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryDomain

/// Builds valid domain events for store tests.
enum Fixtures {
    static func eventID(_ n: Int, salt: Int = 0) -> EventID {
        let hex = String(format: "%012x", n)
        return EventID(String(format: "%08x", salt) + "-0000-4000-8000-" + hex)!
    }

    static func complaint(_ n: Int, salt: Int = 0, summary: String? = nil) -> Event {
        Event(
            eventID: eventID(n, salt: salt), agentID: "agent-\(n % 7)", caseID: "case-\(salt)-\(n)",
            body: .complaint(
                Complaint(
                    customerID: "cust-\(n)", channel: .phone, category: "late delivery", severity: 3, baseline: 6,
                    summary: summary)))
    }

    static let at = Timestamp(rfc3339: "2026-11-22T09:15:00Z")!

    static func writer(_ conninfo: String) throws -> EventLog { try EventLog(connection: PGConnection(conninfo)) }

    /// The daemon's write path (``WriterDriver`` over ``WriterStateMachine``),
    /// driven synchronously: what the store's tests append events through.
    static func appender(_ conninfo: String, timeouts: PGTimeouts = PGTimeouts()) throws -> Appender {
        try Appender(conninfo, timeouts: timeouts)
    }

    static func count(_ conninfo: String) throws -> Int64 {
        try PGConnection(conninfo).query("SELECT count(*) FROM events").int64(0, 0)!
    }

    /// Resident memory of this process in KiB (Linux /proc).
    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
}

/// A ``WriterDriver`` with the answers collected per append.
final class Appender {
    private final class Answers {
        var byTicket: [Int: WriterAnswer] = [:]
    }

    let driver: WriterDriver<Int>
    private let answers = Answers()

    init(_ conninfo: String, timeouts: PGTimeouts) throws {
        let answers = self.answers
        driver = WriterDriver(
            connector: .init(conninfo: conninfo, timeouts: timeouts),
            effects: .init { for (ticket, answer) in $0 { answers.byTicket[ticket] = answer } })
        try driver.connect()
    }

    /// The connection holding the writer's lock (nil once it was dropped).
    var log: EventLog? { driver.log }
    var head: ChainHead { driver.machine.head }

    /// Appends `events` as one batch offered at `now`; one answer per event.
    @discardableResult
    func append(_ events: [Event], at now: Timestamp = Fixtures.at, authority: Authority = .app) -> [WriterAnswer] {
        answers.byTicket = [:]
        let appends = events.enumerated().map { index, event in
            WriterStateMachine<Int>.Append(
                ticket: index,
                submission: Submission(event: event, contentDigest: HashChain.digest(EventCodec.canonicalContent(of: event)), authority: authority))
        }
        driver.append(appends, at: now)
        return events.indices.map { answers.byTicket[$0] ?? .unavailable("not answered") }
    }
}

extension WriterAnswer {
    /// The receipt of a newly recorded event.
    var recorded: ChainHead? {
        if case .recorded(let position, let hash, false, _) = self { return ChainHead(position: position, hash: hash) }
        return nil
    }

    /// The receipt of a duplicate.
    var duplicate: ChainHead? {
        if case .recorded(let position, let hash, true, _) = self { return ChainHead(position: position, hash: hash) }
        return nil
    }
}

import Testing

extension Tag {
    /// Needs the test run's PostgreSQL cluster.
    @Tag static var postgres: Self
}
