import Foundation
@testable import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

@Suite("Projection tables on a real PostgreSQL")
struct ProjectionsTests {
    /// A small ledger history folded by the domain, with awkward text.
    static func folded() throws -> (LedgerState, [RecordedEvent]) {
        let configuration = LedgerConfiguration()
        var state = LedgerState()
        var recorded: [RecordedEvent] = []
        let category = "tab\there, back\\slash, \"quotes\", {braces}, comma, é, 🙂, \\N"
        let events = [
            Event(
                eventID: Fixtures.eventID(1), agentID: "A-7", caseID: "K-1",
                body: .complaint(Complaint(customerID: "C-1", channel: .inPerson, category: category, severity: 4, baseline: 5))),
            Event(eventID: Fixtures.eventID(2), agentID: "A-7", caseID: "K-1", body: .apology(Apology(note: nil))),
            Event(
                eventID: Fixtures.eventID(3), agentID: "A-7", caseID: "K-1",
                body: .compensation(Compensation(amount: 12_345, currency: "USD", kind: .refund))),
            Event(eventID: Fixtures.eventID(4), agentID: "A-7", caseID: "K-1", body: .followUp(FollowUp(satisfaction: 9, wouldRecommend: 8))),
            Event(eventID: Fixtures.eventID(5), agentID: "admin", caseID: nil, body: .allowance(AllowanceChange(dailyLimit: 300_000, role: .supervisor))),
        ]
        for (index, event) in events.enumerated() {
            let next = RecordedEvent(position: Int64(index + 1), recordedAt: Fixtures.at, event: event)
            state.apply(next, configuration: configuration)
            recorded.append(next)
        }
        return (state, recorded)
    }

    static func write(_ state: LedgerState, _ connection: PGConnection) throws {
        try Projections(connection: connection).write(everything: state)
    }

    @Test func rowsReadBackExactlyAsWritten() throws {
        let db = try TestPostgres.database()
        let (state, recorded) = try Self.folded()
        let log = try Fixtures.writer(db)
        try log.append(recorded.map { EventRow($0) }) { try Self.write(state, $0) }
        let loaded = try Projections(connection: PGConnection(db)).completeState()
        #expect(loaded == state)
        #expect(loaded.cases["K-1"]?.outcome == .paradox)
    }

    @Test func aRolledBackFirstBatchDoesNotBreakTheNext() throws {
        let db = try TestPostgres.database()
        let (state, recorded) = try Self.folded()
        let log = try Fixtures.writer(db)
        struct Refused: Error {}
        // The staging tables are created inside this transaction, then rolled back with it.
        #expect(throws: Refused.self) {
            try log.append(recorded.map { EventRow($0) }) { connection in
                try Self.write(state, connection)
                throw Refused()
            }
        }
        try log.append(recorded.map { EventRow($0) }) { try Self.write(state, $0) }
        #expect(try Projections(connection: PGConnection(db)).completeState() == state)
    }
}

/// The array literals a batch's columns travel in: every value comes back out
/// of PostgreSQL's `unnest` exactly as it went in.
@Suite("Text array parameters")
struct TextArrayTests {
    static let values: [String?] = [
        "plain", "", #"a "quoted" word"#, #"back\slash"#, #"\"\\"#, "comma, brace } { and NULL", "NULL", "ünïcödé ✓", nil,
        String(repeating: "x\"", count: 300),
    ]

    @Test func escapedElementsRoundTripThroughPostgres() throws {
        var array = PGTextArray()
        for value in Self.values { array.append(value) }
        #expect(!array.containsNUL)
        #expect(array.literal.hasPrefix(#"{"plain","","a \"quoted\" word","back\\slash","\\\"\\\\""#), "\(array.literal.prefix(80))")
        let connection = try PGConnection(TestPostgres.database(migrated: false))
        let rows = try connection.query("SELECT unnest($1::text[])", [array.parameter])
        #expect(rows.rowCount == Self.values.count)
        for (row, value) in Self.values.enumerated() { #expect(rows.string(row, 0) == value, "\(row)") }
    }

    @Test func aNULIsNotedAndLeftOut() {
        var array = PGTextArray()
        array.append("a\u{0}b" as String?)
        array.append(Array("c\u{0}".utf8) as [UInt8]?)
        #expect(array.containsNUL)
        #expect(array.literal == #"{"ab","c"}"#)
    }
}
