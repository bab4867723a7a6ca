import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

@Suite("Rebuild from the log on a real PostgreSQL", .tags(.postgres))
struct RebuildTests {
    @Test func aRebuildFoldsTheLogToTheStateTheTablesHold() throws {
        let db = try TestPostgres.database()
        let (state, recorded) = try ProjectionsTests.folded()
        try Fixtures.writer(db).append(recorded.map { EventRow($0) }) { try ProjectionsTests.write(state, $0) }
        let replayed = try Rebuild.replay(conninfo: db)
        #expect(replayed.events == Int64(recorded.count))
        #expect(replayed.state == state)
        let stored = try Projections(connection: PGConnection(db)).completeState()
        #expect(Rebuild.differences(replayed.state, stored, followUpsDue: try Projections(connection: PGConnection(db)).followUpsDue()).isEmpty)
    }

    @Test func everyDifferenceBetweenLogAndTablesIsNamed() throws {
        let db = try TestPostgres.database()
        let (state, recorded) = try ProjectionsTests.folded()
        // The events (and the checkpoint) without their projection rows.
        try Fixtures.writer(db).append(recorded.map { EventRow($0) })
        let replayed = try Rebuild.replay(conninfo: db)
        #expect(replayed.state == state)
        let differences = Rebuild.differences(
            replayed.state, try Projections(connection: PGConnection(db)).completeState(), followUpsDue: try Projections(connection: PGConnection(db)).followUpsDue())
        #expect(differences.contains { $0.hasPrefix("case K-1: log says paradox, net 12345, last 4; table says absent") })
        #expect(differences.contains("allowances of admin differ"))
    }

    @Test func aPayloadThatDoesNotDecodeStopsTheRebuildNamingItsPosition() throws {
        let db = try TestPostgres.database()
        let (_, recorded) = try ProjectionsTests.folded()
        try Fixtures.writer(db).append(recorded.map { EventRow($0) })
        try PGConnection(db).execute(
            """
            ALTER TABLE events DISABLE TRIGGER USER;
            UPDATE events SET payload = replace(payload, '"type":"apology"', '"type":"apologee"') WHERE position = 2;
            ALTER TABLE events ENABLE TRIGGER USER;
            """)
        #expect {
            try Rebuild.replay(conninfo: db)
        } throws: { error in
            "\(error)".hasPrefix("rebuild failed: position 2 does not decode")
        }
    }
}

@Suite("A daemon that is never bricked", .tags(.postgres))
struct NeverBrickedTests {
    @Test func anUnreadableRowIsNamedWithWhatToRunAndRebuildWriteRepairsIt() throws {
        let db = try TestPostgres.database()
        let (state, recorded) = try ProjectionsTests.folded()
        try Fixtures.writer(db).append(recorded.map { EventRow($0) }) { try ProjectionsTests.write(state, $0) }
        try PGConnection(db).execute("UPDATE cases SET opened_at = '10000-01-01 00:00:00+00' WHERE case_id = 'K-1'; UPDATE budget_days SET spent = 1")
        // K-1 is closed, so the start-up path (open cases only) would not read
        // it; every reader of the table shares the same row decoder.
        #expect {
            try Projections(connection: PGConnection(db)).completeState()
        } throws: { error in
            "\(error)".contains("the cases row of case_id K-1 cannot be read") && "\(error)".contains("recoveryd rebuild --write")
        }
        let replayed = try Rebuild.replay(conninfo: db)
        let log = try EventLog(connection: PGConnection(db))
        try Rebuild.write(replayed.state, through: log)
        let repaired = try Projections(connection: PGConnection(db)).completeState()
        #expect(repaired == state)
        #expect(Rebuild.differences(replayed.state, repaired, followUpsDue: try Projections(connection: PGConnection(db)).followUpsDue()).isEmpty)
        // Not while another writer holds the ledger.
        #expect(throws: StoreError.self) { try EventLog(connection: PGConnection(db)) }
    }

    @Test func aRewriteCopiesEveryRowIntoEmptiedTablesChunkByChunk() throws {
        let db = try TestPostgres.database()
        var state = LedgerState()
        var recorded: [RecordedEvent] = []
        // Seven cases, each with a compensation charged to one of three people, one of them reversed.
        for n in 1...7 {
            let caseID = "case-0-\(n)"
            var events = [
                Fixtures.complaint(n),
                Event(
                    eventID: Fixtures.eventID(n, salt: 1), agentID: "agent-\(n % 3)", caseID: caseID,
                    body: .compensation(Compensation(amount: Int64(100 * n), currency: "USD", kind: .refund))),
            ]
            if n == 4 {
                events.append(
                    Event(
                        eventID: Fixtures.eventID(n, salt: 2), agentID: "agent-1", caseID: caseID,
                        body: .compensationReversal(CompensationReversal(reverses: Fixtures.eventID(n, salt: 1), reason: "twice"))))
            }
            for event in events {
                let next = RecordedEvent(position: Int64(recorded.count + 1), recordedAt: Fixtures.at, event: event)
                state.apply(next)
                recorded.append(next)
            }
        }
        #expect(state.cases.count == 7 && state.budgets.count == 3)
        try Fixtures.writer(db).append(recorded.map { EventRow($0) }) { try ProjectionsTests.write(state, $0) }
        // The tables hold stale rows before the rewrite; it empties them first.
        try PGConnection(db).execute("UPDATE cases SET compensation_net = 1; UPDATE budget_days SET spent = 1")
        let connection = try PGConnection(db)
        try connection.transaction {
            try connection.execute("TRUNCATE case_compensations, cases, follow_ups_due, budget_days, allowances, customer_days, setting_changes")
            try Projections(connection: connection).load(everything: state, chunk: 2)
        }
        #expect(try Projections(connection: PGConnection(db)).completeState().cases == state.cases)
        #expect(try Projections(connection: PGConnection(db)).completeState().budgets == state.budgets)
        // And the same through Rebuild.write, which replays the log itself.
        let replayed = try Rebuild.replay(conninfo: db)
        try PGConnection(db).execute("UPDATE cases SET compensation_net = 1")
        try Rebuild.write(replayed.state, through: EventLog(connection: PGConnection(db)))
        let projections = try Projections(connection: PGConnection(db))
        #expect(Rebuild.differences(replayed.state, try projections.completeState(), followUpsDue: try projections.followUpsDue()).isEmpty)
        // Compensated and not followed up, every case awaits its follow-up;
        // a deadline missing from follow_ups_due, or moved, is named.
        let awaiting = state.cases.compactMapValues(\.awaitsFollowUpBy)
        let rows = try projections.followUpsDue()
        #expect(awaiting.count == 7)
        #expect(rows == awaiting)
        try PGConnection(db).execute(
            "DELETE FROM follow_ups_due WHERE case_id = 'case-0-1'; UPDATE follow_ups_due SET due = due + interval '1 day' WHERE case_id = 'case-0-2'")
        let named = Rebuild.differences(replayed.state, try projections.completeState(), followUpsDue: try projections.followUpsDue())
        #expect(named.count == 2, "\(named)")
        #expect(named.first == "follow-up of case case-0-1: log says due \(awaiting["case-0-1"]!); follow_ups_due says not awaited")
        #expect(named.last?.hasPrefix("follow-up of case case-0-2: log says due \(awaiting["case-0-2"]!); follow_ups_due says due ") == true)
    }

    /// `Rebuild.write` drops the projection tables' indexes (primary keys
    /// too), loads the rows, and creates the indexes again from them:
    /// afterwards the same definitions and constraints, new index relations,
    /// and queries through them find the rows.
    @Test func aRewriteBuildsTheIndexesAfterLoadingTheRows() throws {
        let db = try TestPostgres.database()
        let (state, recorded) = try ProjectionsTests.folded()
        try Fixtures.writer(db).append(recorded.map { EventRow($0) }) { try ProjectionsTests.write(state, $0) }
        func indexes() throws -> [String: (oid: String, definition: String)] {
            let rows = try PGConnection(db).query(
                """
                SELECT i.relname, x.indexrelid::oid::text, pg_get_indexdef(x.indexrelid) FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                WHERE t.relname IN ('cases', 'follow_ups_due', 'case_compensations', 'budget_days', 'customer_days', 'allowances', 'setting_changes')
                """)
            var found: [String: (oid: String, definition: String)] = [:]
            for row in 0..<rows.rowCount { found[rows.string(row, 0)!] = (rows.string(row, 1)!, rows.string(row, 2)!) }
            return found
        }
        func constraints() throws -> [String] {
            let rows = try PGConnection(db).query(
                """
                SELECT c.conname || ' ' || c.contype::text || ' ' || pg_get_constraintdef(c.oid) FROM pg_constraint c
                JOIN pg_class t ON t.oid = c.conrelid
                WHERE t.relname IN ('cases', 'follow_ups_due', 'case_compensations', 'budget_days', 'customer_days', 'allowances', 'setting_changes')
                ORDER BY 1
                """)
            return (0..<rows.rowCount).map { rows.string($0, 0)! }
        }
        let before = try indexes()
        let constraintsBefore = try constraints()
        #expect(before["cases_by_owner"] != nil && before["cases_pkey"] != nil && before["follow_ups_due_by_due"] != nil)
        #expect(constraintsBefore.contains("cases_pkey p PRIMARY KEY (case_id)"), "\(constraintsBefore)")
        try Rebuild.write(try Rebuild.replay(conninfo: db).state, through: EventLog(connection: PGConnection(db)))
        let after = try indexes()
        #expect(after.mapValues(\.definition) == before.mapValues(\.definition))
        #expect(try constraints() == constraintsBefore)
        for (name, index) in after {
            // Every index is new, primary keys included: built from the loaded rows.
            #expect(index.oid != before[name]!.oid, "\(name)")
        }
        // The primary keys hold again: a second row for a case is refused.
        let caseID = try #require(state.cases.keys.first)
        #expect(throws: StoreError.self) {
            try PGConnection(db).execute("INSERT INTO cases SELECT * FROM cases WHERE case_id = '\(caseID)'")
        }
        let owner = try #require(state.cases.values.first?.owner)
        let rows = try PGConnection(db).query(
            "SELECT count(*) FROM cases WHERE owner_id = $1", [.text(owner)])
        #expect(rows.string(0, 0) == String(state.cases.values.filter { $0.owner == owner }.count))
    }

    /// The daemon's own write path keeps follow_ups_due: a row from the
    /// complaint, its deadline moved by the first compensation, gone once
    /// followed up; a rebuild check agrees at every step.
    @Test func theWriterKeepsTheDeadlinesOfCasesAwaitingAFollowUp() throws {
        let db = try TestPostgres.database()
        let appender = try Fixtures.appender(db)
        let projections = try Projections(connection: PGConnection(db))
        func check() throws {
            let replayed = try Rebuild.replay(conninfo: db)
            #expect(Rebuild.differences(replayed.state, try projections.completeState(), followUpsDue: try projections.followUpsDue()).isEmpty)
        }
        let opening = appender.append([Fixtures.complaint(1), Fixtures.complaint(2)])
        #expect(opening.allSatisfy { $0.isRecorded }, "\(opening)")
        let opened = try projections.followUpsDue()
        #expect(Set(opened.keys) == ["case-0-1", "case-0-2"])
        try check()
        let compensation = Event(
            eventID: Fixtures.eventID(1, salt: 1), agentID: "agent-1", caseID: "case-0-1",
            body: .compensation(Compensation(amount: 500, currency: "USD", kind: .refund)))
        let followUp = Event(
            eventID: Fixtures.eventID(2, salt: 1), agentID: "agent-2", caseID: "case-0-2", body: .followUp(FollowUp(satisfaction: 8, wouldRecommend: 9)))
        let steps = appender.append([compensation, followUp])
        #expect(steps.allSatisfy { $0.isRecorded }, "\(steps)")
        let after = try projections.followUpsDue()
        #expect(Array(after.keys) == ["case-0-1"])
        #expect(after["case-0-1"] == (try projections.cases(["case-0-1"]))["case-0-1"]?.followUpDue)
        try check()
        // DUE reads it: the case whose deadline has passed, and no other.
        #expect(try projections.casesDue(by: after["case-0-1"]!, owner: nil).map(\.caseID) == ["case-0-1"])
        #expect(try projections.casesDue(by: after["case-0-1"]!, owner: "someone else").isEmpty)
        // A step that leaves the deadline as it was (an apology) writes a new
        // version of the case's row but not of its deadline's.
        func xmin(_ table: String) throws -> String? {
            try PGConnection(db).query("SELECT xmin::text FROM \(table) WHERE case_id = 'case-0-1'").string(0, 0)
        }
        let (caseVersion, deadlineVersion) = (try xmin("cases"), try xmin("follow_ups_due"))
        let apology = Event(eventID: Fixtures.eventID(1, salt: 2), agentID: "agent-1", caseID: "case-0-1", body: .apology(Apology(note: nil)))
        #expect(appender.append([apology]).allSatisfy { $0.isRecorded })
        #expect(try xmin("cases") != caseVersion)
        #expect(try xmin("follow_ups_due") == deadlineVersion)
        try check()
        // The sequential path (COPY and one upsert) deletes a settled deadline too.
        var settled = try #require(try projections.cases(["case-0-1"])["case-0-1"])
        settled.followUpLate = false
        let connection = try PGConnection(db)
        try connection.transaction {
            try Projections(connection: connection).write(
                cases: [settled], compensations: [(caseID: String, eventID: EventID, entry: CaseState.CompensationEntry)](),
                budgets: [(key: BudgetKey, value: BudgetDay)](), allowances: [(key: String, value: [AllowanceSetting])]())
        }
        #expect(try projections.followUpsDue().isEmpty)
    }
}

extension WriterAnswer {
    var isRecorded: Bool {
        if case .recorded = self { true } else { false }
    }
}
