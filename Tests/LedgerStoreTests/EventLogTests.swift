import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

@Suite("Event log on a real PostgreSQL", .tags(.postgres))
struct EventLogTests {
    @Test func appendedPayloadsReadBackByteForByte() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        let tricky = "quote \" backslash \\ tab \t newline \n nul \u{0} emoji 🙂 é and \u{2028}"
        let events = (1...5).map { Fixtures.complaint($0, summary: $0 == 3 ? tricky : "plain \($0)") }
        let outcomes = log.append(events)
        let expected = events.enumerated().map { index, event in
            EventRow(RecordedEvent(position: Int64(index + 1), recordedAt: Fixtures.at, event: event)).payload
        }
        var read: [StoredEvent] = []
        try EventReader(connection: PGConnection(db)).forEach(from: 1) { read.append($0) }
        #expect(read.map(\.payload) == expected)
        #expect(read.map(\.position) == [1, 2, 3, 4, 5])
        #expect(outcomes.map { $0.recorded?.hash ?? [] } == read.map(\.hash))
        // A NUL is refused in new events now, but one recorded earlier stays readable.
        let decoded = try EventCodec.decodeRecorded(payload: read[2].payload).get()
        guard case .complaint(let complaint) = decoded.event.body else { Issue.record("not a complaint"); return }
        #expect(complaint.summary == tricky)
        guard case .failure(let refusal) = EventCodec.decode(json: EventCodec.canonicalContent(of: events[2]), currency: "USD") else {
            Issue.record("a new event with a NUL in its summary was accepted")
            return
        }
        #expect(refusal.code == .invalid)
    }

    /// The bulk paths (`append(_:)` by COPY or INSERT, as `recovery-bench store`
    /// and the rebuild write) and the writer's pipelined path give the same rows.
    @Test(arguments: EventLog.BatchMethod.allCases)
    func everyWritePathWritesTheSameRows(method: EventLog.BatchMethod) throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.writer(db)
        log.batchMethod = method
        let rows = (1...50).map { EventRow(RecordedEvent(position: Int64($0), recordedAt: Fixtures.at, event: Fixtures.complaint($0))) }
        let receipts = try log.append(rows)
        // The chain depends only on the payloads, so every path gives the same head.
        var head = ChainHead.empty
        for row in rows { head = ChainHead(position: row.position, hash: HashChain.next(after: head.hash, payload: row.payload)) }
        #expect(receipts.last == head)
        let piped = try TestPostgres.database()
        #expect(try Fixtures.appender(piped).append((1...50).map { Fixtures.complaint($0) }).last?.recorded == head)
        #expect(try EventReader(connection: PGConnection(db)).head() == head)
        let columns = try PGConnection(db).query(
            "SELECT event_id::text, type, case_id, agent_id, recorded_at = '2026-11-22T09:15:00Z' FROM events WHERE position = 7")
        #expect(columns.string(0, 0) == Fixtures.eventID(7).text)
        #expect(columns.string(0, 1) == "complaint")
        #expect(columns.string(0, 2) == "case-0-7")
        #expect(columns.string(0, 3) == "agent-0")
        #expect(columns.bool(0, 4) == true)
    }

    @Test func positionsStayGaplessAcrossBatchesAndReconnects() throws {
        let db = try TestPostgres.database()
        var next = 1
        for round in 0..<3 {
            let log = try Fixtures.appender(db)
            #expect(log.head.position == Int64(next - 1))
            for size in [1, 7, 100, 3] {
                let events = (next..<next + size).map { Fixtures.complaint($0, salt: round) }
                let outcomes = log.append(events)
                #expect(outcomes.map { $0.recorded?.position ?? -1 } == (next..<next + size).map(Int64.init))
                next += size
            }
            try log.log?.releaseLock()
        }
        let summary = try PGConnection(db).query("SELECT count(*), min(position), max(position) FROM events")
        #expect(summary.int64(0, 0) == Int64(next - 1))
        #expect(summary.int64(0, 1) == 1)
        #expect(summary.int64(0, 2) == Int64(next - 1))
        #expect(try EventReader(connection: PGConnection(db)).verify() == .verified(count: Int64(next - 1), last: Int64(next - 1), hash: Fixtures.writer(db).head.hash))
    }

    @Test func aRetriedEventIsADuplicateAndWritesNothing() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        let event = Fixtures.complaint(1)
        let original = try #require(log.append([event])[0].recorded)
        let later = Timestamp(rfc3339: "2026-11-23T10:00:00Z")!
        #expect(log.append([event], at: later).map(\.duplicate) == [original])
        // Within one batch too: the repeat answers the first one's receipt.
        let second = Fixtures.complaint(2)
        let outcomes = log.append([second, second], at: later)
        let receipt = try #require(outcomes[0].recorded)
        #expect(outcomes[1].duplicate == receipt)
        #expect(try Fixtures.count(db) == 2)
        #expect(log.head == receipt)
    }

    @Test func theSameIDWithOtherContentIsAConflict() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        log.append([Fixtures.complaint(1)])
        var changed = Fixtures.complaint(1)
        changed.agentID = "someone-else"
        let outcomes = log.append([changed])
        guard case .refused(let refusal) = outcomes.first else { Issue.record("not refused: \(outcomes)"); return }
        #expect(refusal.code == .conflict)
        #expect(refusal.message.contains("position 1"))
        #expect(try Fixtures.count(db) == 1)
    }

    @Test(arguments: [
        "UPDATE events SET agent_id = 'x' WHERE position = 1",
        "DELETE FROM events WHERE position = 1",
        "TRUNCATE events",
    ])
    func theTriggerRefusesChanges(statement: String) throws {
        let db = try TestPostgres.database()
        try Fixtures.appender(db).append([Fixtures.complaint(1)])
        let connection = try PGConnection(db)  // the superuser: only the trigger stands in the way
        let error = #expect(throws: StoreError.self) { try connection.execute(statement) }
        #expect(error?.sqlState == "23001")
        #expect(error?.message.contains("append-only") == true)
        #expect(try Fixtures.count(db) == 1)
        #expect(try connection.query("SELECT agent_id FROM events").string(0, 0) == "agent-1")
    }

    @Test func verificationNamesTheExactTamperedPosition() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        log.append((1...60).map { Fixtures.complaint($0) })
        let reader = EventReader(connection: try PGConnection(db))
        #expect(try reader.verify() == .verified(count: 60, last: 60, hash: log.head.hash))

        let superuser = try PGConnection(db)
        try superuser.execute(
            """
            ALTER TABLE events DISABLE TRIGGER USER;
            UPDATE events SET payload = replace(payload, '"severity":3', '"severity":1') WHERE position = 37;
            ALTER TABLE events ENABLE TRIGGER USER;
            """)
        guard case .broken(let position, let reason) = try reader.verify() else {
            Issue.record("tampering was not detected")
            return
        }
        #expect(position == 37)
        #expect(reason.contains("differs"))
        // A range that ends before the tampered row still verifies.
        if case .verified(let count, let last, _) = try reader.verify(from: 10, through: 36) {
            #expect(count == 27)
            #expect(last == 36)
        } else {
            Issue.record("range 10...36 should verify")
        }
    }

    @Test func verificationCatchesColumnsEditedAwayFromThePayload() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        log.append((1...12).map { Fixtures.complaint($0) })
        let reader = EventReader(connection: try PGConnection(db))
        #expect(try reader.verify() == .verified(count: 12, last: 12, hash: log.head.hash))
        let superuser = try PGConnection(db)
        // Each edit leaves the payload and every hash as they were.
        let edits: [(column: String, sql: String)] = [
            ("case_id", "case_id = 'HIDDEN'"), ("agent_id", "agent_id = 'SOMEONE-ELSE'"), ("type", "type = 'apology'"),
            ("event_id", "event_id = '00000000-0000-4000-8000-0000000000ff'"), ("content_digest", "content_digest = sha256('x')"),
        ]
        for (offset, edit) in edits.enumerated() {
            let position = Int64(3 + offset)
            try superuser.execute(
                "ALTER TABLE events DISABLE TRIGGER USER; UPDATE events SET \(edit.sql) WHERE position = \(position); ALTER TABLE events ENABLE TRIGGER USER;")
            guard case .broken(let found, let reason) = try reader.verify() else {
                Issue.record("an edited \(edit.column) column went unnoticed")
                continue
            }
            #expect(found == 3, "\(edit.column)")
            if position == 3 { #expect(reason == "the column \(edit.column) differs from the payload") }
            #expect(try reader.verify(from: position) == .broken(position: position, reason: "the column \(edit.column) differs from the payload"))
        }
    }

    @Test func aDeletedRowIsReportedAsAGap() throws {
        let db = try TestPostgres.database()
        try Fixtures.appender(db).append((1...10).map { Fixtures.complaint($0) })
        try PGConnection(db).execute(
            "ALTER TABLE events DISABLE TRIGGER USER; DELETE FROM events WHERE position = 4; ALTER TABLE events ENABLE TRIGGER USER;")
        guard case .broken(let position, let reason) = try EventReader(connection: PGConnection(db)).verify() else {
            Issue.record("the gap was not detected")
            return
        }
        #expect(position == 4)
        #expect(reason.contains("missing"))
    }

    @Test func aSecondWriterIsRefusedAtOnce() throws {
        let db = try TestPostgres.database()
        let first = try Fixtures.writer(db)
        let error = #expect(throws: StoreError.self) { try Fixtures.writer(db) }
        #expect(error?.code == .writerLocked)
        #expect(error?.message.contains("another writer holds this ledger") == true)
        #expect(error?.message.contains("pid \(first.connection.backendPID)") == true, "\(String(describing: error))")
        try first.releaseLock()
        #expect(throws: Never.self) { try Fixtures.writer(db) }
    }

    @Test func aBatchFailingMidTransactionLeavesNothingAndTheChainContinues() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.writer(db)
        _ = try log.append((1...5).map { EventRow(RecordedEvent(position: Int64($0), recordedAt: Fixtures.at, event: Fixtures.complaint($0))) })
        let headBefore = log.head
        struct ProjectionFailed: Error {}
        let rows = (6...10).map {
            EventRow(RecordedEvent(position: Int64($0), recordedAt: Fixtures.at, event: Fixtures.complaint($0)))
        }
        #expect(throws: ProjectionFailed.self) {
            try log.append(rows) { _ in throw ProjectionFailed() }
        }
        #expect(log.head == headBefore)
        #expect(try Fixtures.count(db) == 5)
        // A server-side failure inside the batch (a duplicate event_id written
        // past the idempotency check) also leaves nothing behind.
        var clash = rows
        clash[3].eventID = Fixtures.eventID(2)
        let error = #expect(throws: StoreError.self) { try log.append(clash) }
        #expect(error?.isUniqueViolation == true)
        #expect(log.head == headBefore)
        #expect(try Fixtures.count(db) == 5)
        let checkpoint = try PGConnection(db).query("SELECT position FROM ledger_checkpoint")
        #expect(checkpoint.int64(0, 0) == 5)
        // The next batch continues the chain from position 6.
        let receipts = try log.append(rows)
        #expect(receipts.map(\.position) == [6, 7, 8, 9, 10])
        #expect(try EventReader(connection: PGConnection(db)).verify() == .verified(count: 10, last: 10, hash: log.head.hash))
    }

    @Test func aBatchThatDoesNotFollowTheHeadIsRefused() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.writer(db)
        let row = EventRow(RecordedEvent(position: 2, recordedAt: Fixtures.at, event: Fixtures.complaint(1)))
        let error = #expect(throws: StoreError.self) { try log.append([row]) }
        #expect(error?.code == .outOfOrder)
        #expect(try Fixtures.count(db) == 0)
    }

    @Test func oneCasesEventsAreReadInOrder() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        let open = Fixtures.complaint(1)
        let apology = Event(
            eventID: Fixtures.eventID(2), agentID: "agent-1", caseID: open.caseID, body: .apology(Apology(note: "sorry")))
        log.append([open, Fixtures.complaint(3), apology])
        let events = try EventReader(connection: PGConnection(db)).events(ofCase: open.caseID!)
        #expect(events.map(\.position) == [1, 3])
        #expect(try EventReader(connection: PGConnection(db)).events(ofCase: "nobody").isEmpty)
    }

    /// A range read as one `COPY` in pages: the same events as page queries,
    /// the log as it was when the stream opened, and the connection free for
    /// other statements (as it was) once the last page is read.
    @Test func aLogStreamReadsARangeWithOneQuery() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        for start in stride(from: 1, through: 2_500, by: 500) {
            log.append((start..<start + 500).map { Fixtures.complaint($0, summary: $0 == 1_234 ? "tab \t quote \" nul \u{0}" : nil) })
        }
        let connection = try PGConnection(db)
        let reader = EventReader(connection: connection)
        let stream = try LogStream(connection: connection, from: 1_001, through: 2_300)
        let first = try stream.read(limit: 1_000)
        #expect(!stream.isFinished && stream.next == 2_001)
        let second = try stream.read(limit: 1_000)
        #expect(first.map(\.position) == Array(1_001...2_000))
        #expect(second.map(\.position) == Array(2_001...2_300))
        #expect(stream.isFinished, "the end of the copy is taken with the range's last row")
        let paged = try reader.page(from: 1_001, through: 2_300, limit: 1_000) + reader.page(from: 2_001, through: 2_300, limit: 1_000)
        #expect(first + second == paged)
        #expect(try stream.read(limit: 1_000).isEmpty)
        #expect(try connection.query("SHOW enable_sort").string(0, 0) == "on")

        // Open-ended: the log as it was when the stream opened.
        let open = try LogStream(connection: connection, from: 2_401, through: nil)
        let before = try open.read(limit: 50)
        log.append((2_501...2_510).map { Fixtures.complaint($0) })
        var rest: [StoredEvent] = []
        while !open.isFinished { rest += try open.read(limit: 50) }
        #expect((before + rest).map(\.position) == Array(2_401...2_500))
        // Past the head: nothing, and finished at once.
        let beyond = try LogStream(connection: connection, from: 9_000, through: 9_999)
        #expect(try beyond.read(limit: 10).isEmpty && beyond.isFinished)
        #expect(try reader.head().position == 2_510)
    }

    @Test func hundredThousandEventsStreamInConstantMemory() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        let padding = String(repeating: "x", count: 1_000)
        let total = 100_000
        for start in stride(from: 1, through: total, by: 1_000) {
            let batch = (start..<start + 1_000).map { Fixtures.complaint($0, summary: padding) }
            log.append(batch)
        }
        let reader = EventReader(connection: try PGConnection(db))
        var count = 0
        var expected: Int64 = 1
        var bytes = 0
        let before = Fixtures.residentKiB()
        var peak = before
        try reader.forEach(from: 1) { event in
            #expect(event.position == expected)
            expected += 1
            count += 1
            bytes += event.payload.count
            if count % 10_000 == 0 { peak = max(peak, Fixtures.residentKiB()) }
        }
        #expect(count == total)
        // Over 100 MB of payloads passed through; what stayed resident is a page.
        #expect(bytes > 100_000_000)
        #expect(peak - before < 48 * 1024, "resident memory grew by \(peak - before) KiB while streaming")
        #expect(try reader.verify() == .verified(count: Int64(total), last: Int64(total), hash: log.head.hash))
    }
}

@Suite("Pipelined batches on a real PostgreSQL", .tags(.postgres))
struct PipelinedBatchTests {
    static func rows(_ numbers: ClosedRange<Int>, after position: Int64, salt: Int = 0) -> [EventRow] {
        numbers.enumerated().map { offset, n in
            EventRow(RecordedEvent(position: position + Int64(offset) + 1, recordedAt: Fixtures.at, event: Fixtures.complaint(n, salt: salt)))
        }
    }

    @Test func twoBatchesInFlightCommitInOrderWithTheChainOfOneAppend() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.writer(db)
        let first = try log.send(Self.rows(1...300, after: 0), projections: [])
        #expect(log.tip.position == 300 && log.head.position == 0)
        let second = try log.send(Self.rows(301...301, after: 300), projections: [])
        try log.receive(first)
        #expect(log.head == first.receipts.last)
        try log.receive(second)
        #expect(log.head == log.tip)
        #expect(log.head.position == 301)
        // The same hashes as a sequential append computes, and the checkpoint followed.
        #expect(try EventReader(connection: PGConnection(db)).verify() == .verified(count: 301, last: 301, hash: log.head.hash))
        let checkpoint = try PGConnection(db).query("SELECT position, hash FROM ledger_checkpoint")
        #expect(checkpoint.int64(0, 0) == 301)
        #expect(try checkpoint.bytea(0, 1) == log.head.hash)
    }

    @Test func whenABatchFailsTheOneSentAfterItFailsTooAndNothingIsLeftHalfWritten() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.writer(db)
        _ = try log.append(Self.rows(1...1, after: 0))
        // The first batch reuses event 1's id: the UNIQUE constraint refuses it.
        let clash = try log.send(Self.rows(1...2, after: 1), projections: [])
        let after = try log.send(Self.rows(3...4, after: 3), projections: [])
        let refused = #expect(throws: StoreError.self) { try log.receive(clash) }
        #expect(refused?.sqlState == "23505")
        let followed = #expect(throws: StoreError.self) { try log.receive(after) }
        #expect(followed?.sqlState == "40001")  // its checkpoint step expected the first batch's head
        #expect(log.head.position == 1 && log.tip.position == 1)
        #expect(try Fixtures.count(db) == 1)
        // The connection is usable again, and the chain continues from what committed.
        let retry = try log.send(Self.rows(3...4, after: 1), projections: [])
        try log.receive(retry)
        #expect(try EventReader(connection: PGConnection(db)).verify() == .verified(count: 3, last: 3, hash: log.head.hash))
    }

    @Test func aNULInAnyValueIsADataErrorBeforeAnythingIsSent() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.writer(db)
        var rows = Self.rows(1...1, after: 0)
        rows[0].agentID = "agent\u{0}x"
        let error = #expect(throws: StoreError.self) { try log.send(rows, projections: []) }
        #expect(error?.isDataError == true)
        #expect(log.tip.position == 0)
        #expect(log.connection.pipelinedGroups == 0)
    }
}

@Suite("Known ids read from the tables", .tags(.postgres))
struct KnownIdentifiersTests {
    @Test func everyRecordedIDIsMaybeKnownAndNewOnesMostlyAreNot() throws {
        let db = try TestPostgres.database()
        let log = try Fixtures.appender(db)
        let events = (1...2_000).map { Fixtures.complaint($0, summary: $0 == 7 ? "tab\\there" : nil) }
        log.append(events)
        var tricky = Fixtures.complaint(2_001)
        tricky.caseID = #"case\with"backslash"#
        log.append([tricky])
        let known = try KnownIdentifiers.load(connection: PGConnection(db), through: log.head.position)
        for event in events + [tricky] {
            #expect(known.events.mightContain(event.eventID))
            #expect(known.cases.mightContain(event.caseID!))
        }
        // Ids after the position read are not in, and new ids are rarely false positives.
        let fresh = (1...2_000).map { Fixtures.eventID($0, salt: 99) }
        #expect(fresh.filter { known.events.mightContain($0) }.count < 40)
        #expect((1...2_000).filter { known.cases.mightContain("case-99-\($0)") }.count < 40)
    }
}

@Suite("Values read from PostgreSQL's text without strings", .tags(.postgres))
struct PGResultTests {
    @Test func integersBooleansDaysAndTimesReadAsPostgreSQLWritesThem() throws {
        let db = try TestPostgres.database()
        let row = try PGConnection(db).query(
            """
            SELECT '-9223372036854775808'::int8, 9223372036854775807::int8, 0::int8, '-1'::int4, NULL::int8, true, false, NULL::bool,
                   '2024-02-29'::date::text, '0001-01-01'::date::text, NULL::date::text, '2026-03-08T05:00:00.25Z', 'x1'
            """)
        #expect(row.int64(0, 0) == .min && row.int64(0, 1) == .max && row.int64(0, 2) == 0 && row.int64(0, 3) == -1)
        #expect(row.int64(0, 4) == nil && row.int64(0, 12) == nil)
        #expect(row.bool(0, 5) == true && row.bool(0, 6) == false && row.bool(0, 7) == nil)
        #expect(row.day(0, 8) == BusinessDay("2024-02-29") && row.day(0, 9)?.description == "0001-01-01" && row.day(0, 10) == nil)
        #expect(row.timestamp(0, 11)?.description == "2026-03-08T05:00:00.250000Z" && row.timestamp(0, 12) == nil)
        // One past the ends does not wrap around.
        let over = try PGConnection(db).query("SELECT '9223372036854775808', '-9223372036854775809', '-', ''")
        #expect((0..<4).allSatisfy { over.int64(0, $0) == nil })
    }
}
