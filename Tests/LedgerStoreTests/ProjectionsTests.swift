import Foundation
@testable import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

@Suite("Projection tables on a real PostgreSQL", .tags(.postgres))
struct ProjectionsTests {
    /// A small ledger history folded by the domain, with awkward text.
    static func folded() throws -> (LedgerState, [RecordedEvent]) {
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
            // Settings are projection rows too; an allowance may follow the role's default.
            Event(
                eventID: Fixtures.eventID(6), agentID: "admin", caseID: nil,
                body: .ledgerSetting(LedgerSetting(name: .customerDailyCap, value: .integer(50_000)))),
            Event(eventID: Fixtures.eventID(7), agentID: "S-1", caseID: nil, body: .allowance(AllowanceChange(dailyLimit: nil, role: .supervisor))),
            Event(
                eventID: Fixtures.eventID(8), agentID: "admin", caseID: nil,
                body: .ledgerSetting(LedgerSetting(name: .customerDailyCap, value: .none))),
        ]
        for (index, event) in events.enumerated() {
            let next = RecordedEvent(position: Int64(index + 1), recordedAt: Fixtures.at, event: event)
            state.apply(next)
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

    /// A COPY whose rows are made while it is sent: every part arrives, in
    /// order; one that cannot be made ends the COPY with an error, and the
    /// connection rolls back and goes on.
    @Test func aCopyMadeWhileSentTakesEveryPartOrNone() throws {
        let connection = try PGConnection(TestPostgres.database(migrated: false))
        try connection.execute("CREATE TABLE parts (n bigint, note text)")
        var part = 0
        let copied = try connection.copyIn("COPY parts (n, note) FROM STDIN") { (data: inout [UInt8]) throws(StoreError) -> Bool in
            for n in part * 1_000..<(part + 1) * 1_000 { data.append(contentsOf: Array("\(n)\tpart \(part)\n".utf8)) }
            part += 1
            return part < 50
        }
        #expect(copied == 50_000)
        let rows = try connection.query("SELECT count(*), count(DISTINCT n), max(n), count(*) FILTER (WHERE note = 'part ' || (n / 1000)) FROM parts")
        #expect(rows.string(0, 0) == "50000" && rows.string(0, 1) == "50000" && rows.string(0, 2) == "49999" && rows.string(0, 3) == "50000")

        part = 0
        #expect(throws: StoreError.self) {
            try connection.transaction {
                try connection.copyIn("COPY parts (n, note) FROM STDIN") { (data: inout [UInt8]) throws(StoreError) -> Bool in
                    part += 1
                    if part == 3 { throw StoreError(.server, "no more rows") }
                    data.append(contentsOf: Array("\(100_000 + part)\tlate\n".utf8))
                    return true
                }
            }
        }
        #expect(part == 3)
        #expect(try connection.query("SELECT count(*) FROM parts WHERE note = 'late'").string(0, 0) == "0")
        #expect(try connection.query("SELECT count(*) FROM parts").string(0, 0) == "50000")
    }
}

/// The array literals a batch's columns travel in: every value comes back out
/// of PostgreSQL's `unnest` exactly as it went in.
@Suite("Text array parameters", .tags(.postgres))
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

/// The binary arrays a batch's columns travel in: every value of every element
/// type comes back out of PostgreSQL's `unnest` exactly as it went in.
@Suite("Binary array parameters", .tags(.postgres))
struct BinaryArrayTests {
    @Test func everyElementTypeRoundTripsThroughPostgres() throws {
        let connection = try PGConnection(TestPostgres.database(migrated: false))
        func roundTrip(_ array: PGBinaryArray, as type: String, _ expression: String = "v::text") throws -> [String?] {
            var array = array
            let rows = try connection.query("SELECT \(expression) FROM unnest($1::\(type)[]) AS t(v)", [array.parameter()])
            return (0..<rows.rowCount).map { rows.string($0, 0) }
        }
        var texts = PGBinaryArray(.text)
        for value in TextArrayTests.values { texts.append(value) }
        #expect(try roundTrip(texts, as: "text", "v") == TextArrayTests.values)

        var smallints = PGBinaryArray(.int2), integers = PGBinaryArray(.int4), bigints = PGBinaryArray(.int8)
        for value in [Int64(Int16.min), -1, 0, 5, nil, Int64(Int16.max)] { smallints.append(value) }
        for value in [Int64(Int32.min), 0, nil, Int64(Int32.max)] { integers.append(value) }
        for value in [Int64.min, -1, 0, nil, Int64.max] { bigints.append(value) }
        #expect(try roundTrip(smallints, as: "smallint") == ["-32768", "-1", "0", "5", nil, "32767"])
        #expect(try roundTrip(integers, as: "integer") == ["-2147483648", "0", nil, "2147483647"])
        #expect(try roundTrip(bigints, as: "bigint") == ["-9223372036854775808", "-1", "0", nil, "9223372036854775807"])

        var booleans = PGBinaryArray(.bool)
        for value in [true, false, nil] as [Bool?] { booleans.append(value) }
        #expect(try roundTrip(booleans, as: "boolean") == ["true", "false", nil])

        let days = ["0001-01-01", "1969-12-31", "1970-01-01", "2000-01-01", "2024-02-29", "9999-12-31"]
        var dates = PGBinaryArray(.date)
        for day in days { dates.append(BusinessDay(day)) }
        dates.append(nil as BusinessDay?)
        #expect(try roundTrip(dates, as: "date") == days + [nil])

        let times = [
            "0001-01-01T00:00:00.000001Z", "1969-12-31T23:59:59.999999Z", "1970-01-01T00:00:00.000000Z",
            "2000-01-01T00:00:00.000000Z", "2026-03-08T07:00:00.250000Z", "9999-12-31T23:59:59.999999Z",
        ]
        var stamps = PGBinaryArray(.timestamptz)
        for time in times { stamps.append(Timestamp(rfc3339: time)) }
        stamps.append(nil as Timestamp?)
        #expect(try roundTrip(stamps, as: "timestamptz", #"to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#) == times + [nil])

        var uuids = PGBinaryArray(.uuid)
        for id in ["6F9619FF-8B86-4011-B42D-00C04FC964FF", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"] {
            uuids.append(EventID(id)!)
        }
        #expect(
            try roundTrip(uuids, as: "uuid")
                == ["6f9619ff-8b86-4011-b42d-00c04fc964ff", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"])

        var blobs = PGBinaryArray(.bytea)
        blobs.append([0, 1, 0xFF, 0x5C, 0x22], text: false)
        blobs.append([], text: false)
        #expect(try roundTrip(blobs, as: "bytea") == [#"\x0001ff5c22"#, #"\x"#])
    }

    @Test func whatCannotBeSentIsNoted() {
        var text = PGBinaryArray(.text)
        text.append("a\u{0}b" as String?)
        #expect(text.containsNUL && !text.outOfRange)
        var blob = PGBinaryArray(.bytea)
        blob.append([0, 0], text: false)
        #expect(!blob.containsNUL, "a bytea may hold zero bytes")
        var small = PGBinaryArray(.int2)
        small.append(Int64(Int16.max) + 1)
        #expect(small.outOfRange)
        var columns = PGColumns(table: "t", columns: [.init("a", "smallint"), .init("b", "text")], rows: 1)
        columns.arrays[0].append(70_000)
        columns.arrays[1].append("ok" as String?)
        #expect(columns.invalid?.sqlState == "22003")
    }
}
