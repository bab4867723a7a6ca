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
