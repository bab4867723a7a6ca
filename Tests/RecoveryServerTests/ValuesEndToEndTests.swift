import Foundation
import LedgerStore
import RecoveryDomain
import TestRandomness
import Testing

/// docs/EVENTS.md, "Conventions": every event the domain accepts stores, loads and
/// replays; no accepted value may later make a write, a start-up or a query
/// fail. Before issue 10 one APPEND could stop the daemon from starting or
/// make every other client's append in its batch fail.
@Suite("recoveryd: values that always store, load and replay", .tags(.processes))
struct ValuesEndToEndTests {
    static func json(_ fields: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test func thePoisonValuesOfIssue10AreRefusedAndTheDaemonStillRestarts() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        let id = { (n: Int) in Events.id(n, salt: 77) }
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "OTHER", agent: "A-8"))) != nil)
        let poison: [(String, String)] = [
            (#"{"event_id":"\#(id(2))","type":"complaint","agent_id":"A-7","case_id":"P-1","customer_id":"C-1","channel":"phone","category":"late","severity":3,"occurred_at":"9999-12-31T23:59:59-23:59"}"#, "occurred_at"),
            (#"{"event_id":"\#(id(3))","type":"apology","agent_id":"A-7","case_id":"OTHER","occurred_at":"9999-12-31T23:59:59-23:59"}"#, "occurred_at"),
            (#"{"event_id":"\#(id(4))","type":"complaint","agent_id":"A-7","case_id":"P-2","customer_id":"C-1","channel":"phone","category":"late","severity":3,"occurred_at":"0001-01-01T00:00:00+23:59"}"#, "occurred_at"),
            (#"{"event_id":"\#(id(5))","type":"complaint","agent_id":"A-7","case_id":"P-3","customer_id":"C-1","channel":"phone","category":"la\u0000te","severity":3}"#, "category"),
        ]
        for (request, field) in poison {
            let answer = try front.request("APPEND " + request)
            #expect(errorCode(answer) == "invalid", "\(answer)")
            #expect(answer.contains(field), "\(answer)")
        }
        daemon.stop()
        try daemon.start()
        let again = try daemon.client("frontline")
        #expect(okObject(try again.request("CASE OTHER"))?["status"] as? String == "open")
        // Start-up read no cases: the writer reads OTHER when an append first
        // names it, and looks up ids it may have recorded before the restart.
        let retried = try again.request("APPEND " + Events.complaint(1, caseID: "OTHER", agent: "A-8"))
        #expect(okObject(retried)?["duplicate"] as? Bool == true, "\(retried)")
        #expect(errorCode(try again.request("APPEND " + Events.complaint(6, caseID: "OTHER"))) == "conflict")
        #expect(okObject(try again.request("APPEND " + Events.compensation(7, caseID: "OTHER", amount: 300))) != nil)
        #expect(okObject(try again.request("CASE OTHER"))?["compensation_net"] as? Int == 300)
    }

    @Test func aDaemonThatCannotReadARowSaysWhatToRunAndRebuildWriteBringsItBack() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "B-1"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.compensation(2, caseID: "B-1", amount: 500))) != nil)
        let before = try #require(okObject(try front.request("CASE B-1")))
        daemon.stop()
        try PGConnection(daemon.conninfo).execute("UPDATE cases SET opened_at = '10000-01-01 00:00:00+00' WHERE case_id = 'B-1'")
        // The daemon still starts and serves: only what needs that row is refused,
        // with the table, the key and the command that repairs it.
        try daemon.start()
        let client = try daemon.client("frontline")
        #expect(okObject(try client.request("APPEND " + Events.complaint(3, caseID: "B-2"))) != nil)
        let refused = try client.request("APPEND " + Events.compensation(4, caseID: "B-1", amount: 100))
        #expect(refused.hasPrefix("ERR internal "), "\(refused)")
        #expect(refused.contains("the cases row of case_id B-1 cannot be read") && refused.contains("recoveryd rebuild --write"), "\(refused)")
        let caseRefused = try client.request("CASE B-1")
        #expect(caseRefused.hasPrefix("ERR ") && caseRefused.contains("rebuild --write"), "\(caseRefused)")
        daemon.stop()
        let rebuilt = try Daemon.run(["rebuild", "--write", "--database", daemon.conninfo])
        #expect(rebuilt.status == 0 && rebuilt.output.contains("rebuild --write: the projection tables now hold the log's state"), "\(rebuilt.output)")
        try daemon.start()
        let after = try #require(okObject(try daemon.client("frontline").request("CASE B-1")))
        #expect(after["opened_at"] as? String == before["opened_at"] as? String)
        #expect(after["compensation_net"] as? Int == 500)
        let check = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(check.status == 0, "\(check.output)")
    }

    @Test func aValuePostgresRefusesCostsOnlyItsOwnAppendAndLeaksNoOtherClientsData() throws {
        let daemon = try Daemon()
        // A rule the domain does not know, so PostgreSQL itself refuses the row.
        try PGConnection(daemon.conninfo).execute("ALTER TABLE cases ADD CONSTRAINT no_boom CHECK (category <> 'boom')")
        let front = try daemon.client("frontline")
        var lines = ""
        for n in 1...60 {
            let category = n == 31 ? "boom" : "secret-\(n)"
            lines += "APPEND " + Events.complaint(n, caseID: "I-\(n)").replacingOccurrences(of: #""late""#, with: "\"\(category)\"") + "\n"
        }
        try front.send(lines)
        var answers: [String] = []
        for _ in 1...60 { answers.append(try #require(try front.readLine())) }
        for (index, answer) in answers.enumerated() where index != 30 {
            #expect(okObject(answer) != nil, "append \(index + 1): \(answer)")
        }
        #expect(errorCode(answers[30]) == "invalid", "\(answers[30])")
        #expect(answers[30].contains("PostgreSQL refused this event's values (SQLSTATE 23514)"))
        #expect(!answers[30].contains("secret"), "another client's data in the refusal: \(answers[30])")
        #expect(daemon.log.contains("appending its events one by one"), "the refusal came in a batch of its own: isolation was not exercised")
        #expect(try daemon.client("auditor").stream("REPLAY 1").events.count == 59)
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
    }

    @Test(arguments: [UInt64(1), 2])
    func randomAwkwardValuesStoreLoadAndAnswerEveryQueryAfterARestart(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let awkward = ["a", "é", "🙂", "𝄞", "\"", "\\", "{", "}", ",", "\\N", "\\.", "%", "'", " ", "\u{2028}", "\u{85}", "\u{7F}", "\u{FEFF}", "/"]
        let freeTextOnly = ["\t", "\n", "\r", "\r\n"]
        func text(_ length: ClosedRange<Int>, free: Bool) -> String {
            let pool = free ? awkward + freeTextOnly : awkward
            return (0..<Int.random(in: length, using: &rng)).map { _ in pool.randomElement(using: &rng)! }.joined()
        }
        let now = Date().timeIntervalSince1970
        // Any time for a complaint; an apology or follow-up may not come before
        // its complaint, so the others take the latest time allowed.
        func occurred(_ type: String?) -> String {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let choices: [TimeInterval] = type == "complaint" ? [0, now + 23 * 3600, Double.random(in: 0...now, using: &rng)] : [now + 23 * 3600]
            return formatter.string(from: Date(timeIntervalSince1970: choices.randomElement(using: &rng)!))
        }
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        var n = 0
        func append(_ fields: [String: Any]) throws {
            n += 1
            var event = fields
            event["event_id"] = Events.id(n, salt: Int(seed))
            if Bool.random(using: &rng) { event["occurred_at"] = occurred(fields["type"] as? String) }
            if Bool.random(using: &rng) { event["ref"] = text(1...20, free: false) }
            let answer = try front.request("APPEND " + Self.json(event))
            #expect(okObject(answer) != nil, "\(Self.json(event)) → \(answer)")
        }
        let cases = (1...30).map { "V\(seed)-\($0)" }
        for caseID in cases {
            try append([
                "type": "complaint", "agent_id": "A-\(Int.random(in: 1...4, using: &rng))", "case_id": caseID,
                "customer_id": "C-\(Int.random(in: 1...9, using: &rng))", "channel": "chat", "category": text(1...20, free: false),
                "severity": Int.random(in: 1...5, using: &rng), "baseline": Int.random(in: 0...10, using: &rng), "summary": text(0...60, free: true),
            ])
            try append(["type": "apology", "agent_id": "A-1", "case_id": caseID, "note": text(0...40, free: true)])
            try append([
                "type": "compensation", "agent_id": "A-1", "case_id": caseID, "amount": Int.random(in: 1...2_000, using: &rng),
                "currency": "USD", "kind": "credit", "note": text(0...40, free: true),
            ])
            if Bool.random(using: &rng) {
                try append(["type": "follow_up", "agent_id": "A-1", "case_id": caseID, "satisfaction": Int.random(in: 0...10, using: &rng), "note": text(0...40, free: true)])
            } else {
                try append(["type": "escalation", "agent_id": "A-1", "case_id": caseID, "to_agent_id": "S-1", "reason": text(1...40, free: true)])
            }
        }
        // The start-up path reads every row back; then every query answers.
        daemon.stop()
        try daemon.start()
        let finance = try daemon.client("finance")
        for caseID in cases {
            let answer = try finance.request("CASE \(caseID)")
            #expect((okObject(answer)?["events"] as? [Any])?.count == 4, "\(answer.prefix(300))")
        }
        for dimension in ["agent", "channel", "category", "severity", "day"] {
            #expect(okObject(try finance.request("OUTCOMES by=\(dimension)"))?["cases"] as? Int == cases.count)
        }
        let day = try #require(okObject(try finance.request("BUDGET A-1"))?["day"] as? String)
        #expect(okObject(try finance.request("BUDGETS \(day)")) != nil)
        let auditor = try daemon.client("auditor")
        #expect(try auditor.stream("REPLAY 1").events.count == n)
        #expect(okObject(try auditor.request("VERIFY"))?["verified"] as? Int == n)
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0 && rebuild.output.contains("match the log"), "\(rebuild.output)")
    }
}
