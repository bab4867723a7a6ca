import Foundation
import RecoveryDomain
import Testing

/// Issue 23's end-to-end check: a business week in New York, day by day on
/// the daemon's faked clock, with tokens bound to people. Every figure is
/// checked against what the test computes from its own events: who may move
/// whose money, a late reversal that leaves its closed day alone, NPS with a
/// re-measure and a defection, the on-time rate with an overdue case, a
/// supervisor's cap override, and `SPENDING at=` equal to the answer given then.
@Suite("A business week finance can close the books on", .tags(.processes))
struct BusinessWeekEndToEndTests {
    @Test func everyRuleHoldsThroughAWeekInNewYork() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-books-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = try DaemonClock(folder: folder)
        try clock.set("2026-11-30T15:00:00Z")  // Monday 10:00 in New York (EST, UTC−5)
        let daemon = try Daemon(
            arguments: [
                "--time-zone", "America/New_York", "--supervisor", "S-1", "--customer-daily-cap", "50000", "--follow-up-within-days", "1",
                "--default-allowance", "100000",
            ],
            environment: clock.environment)
        let a1 = try daemon.client(boundTo: "A-1")
        let a2 = try daemon.client(boundTo: "A-2")
        let s1 = try daemon.client(boundTo: "S-1")
        let finance = try daemon.client("finance")
        var n = 0
        var last = 0
        var hashes: [Int: String] = [:]
        /// Appends with `client`; the answer line.
        func append(_ client: LineClient, _ fields: String) throws -> String {
            n += 1
            let line = try client.request(#"APPEND {"event_id":"\#(Events.id(n, salt: 23))",\#(fields)}"#)
            if let ok = okObject(line), let position = ok["position"] as? Int {
                last = max(last, position)
                hashes[position] = ok["hash"] as? String
            }
            return line
        }
        func ok(_ client: LineClient, _ fields: String) throws -> [String: Any] {
            let line = try append(client, fields)
            return try #require(okObject(line), "\(fields): \(line)")
        }
        func id(_ k: Int) -> String { Events.id(k, salt: 23) }
        func complaint(_ caseID: String, _ customer: String, _ agent: String) -> String {
            #""type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"\#(customer)","channel":"phone","category":"late","severity":4,"baseline":5"#
        }
        func compensation(_ caseID: String, _ agent: String, _ amount: Int, approvedBy: String? = nil, override: String? = nil) -> String {
            #""type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(amount),"currency":"USD","kind":"refund""#
                + (approvedBy.map { #","approved_by":"\#($0)""# } ?? "") + (override.map { #","override_reason":"\#($0)""# } ?? "")
        }
        let monday = "2026-11-30", tuesday = "2026-12-01"
        let week = "SPENDING from=2026-11-30 to=2026-12-06 by=person,day"

        // Monday. A-1 and A-2 each open a case and compensate it.
        _ = try ok(a1, complaint("K-1", "C-1", "A-1"))
        _ = try ok(a1, compensation("K-1", "A-1", 30_000))
        let c1 = id(n)
        _ = try ok(a2, complaint("K-2", "C-2", "A-2"))
        _ = try ok(a2, compensation("K-2", "A-2", 20_000))
        // A-2's token moves none of A-1's money and touches none of A-1's cases.
        let budgetA1 = try #require(okObject(try finance.request("BUDGET A-1")))
        for (fields, says) in [
            (#""type":"compensation_reversal","agent_id":"A-2","case_id":"K-1","reverses":"\#(c1)","reason":"oops""#, "A-2 may reverse only compensations it recorded or that were charged to it"),
            (#""type":"escalation","agent_id":"A-2","case_id":"K-1","to_agent_id":"A-2","reason":"mine""#, "case K-1 is owned by A-1; A-2 may escalate only on cases it owns"),
            (#""type":"follow_up","agent_id":"A-2","case_id":"K-1","satisfaction":0"#, "case K-1 is owned by A-1; A-2 may follow up only on cases it owns"),
            (#""type":"defection","agent_id":"A-2","case_id":"K-1""#, "A-2 may record a defection only on cases it owns"),
            (#""type":"compensation","agent_id":"A-1","case_id":"K-1","amount":1,"currency":"USD","kind":"gift""#, "this token is bound to agent_id A-2"),
        ] {
            let refused = try append(a2, fields)
            #expect(refused.hasPrefix("ERR forbidden") && refused.contains(says), "\(fields): \(refused)")
        }
        #expect(okObject(try finance.request("BUDGET A-1")) as NSDictionary? == budgetA1 as NSDictionary, "nothing moved")
        #expect(okObject(try finance.request("CASE K-1"))?["owner"] as? String == "A-1")
        // The customer's cap (50,000 a day): A-1 cannot pass it; the supervisor may, with a reason.
        let capped = try append(a1, compensation("K-1", "A-1", 25_000))
        #expect(capped.hasPrefix("ERR budget_exceeded customer C-1 has 200.00 USD left of the daily cap on \(monday)"), "\(capped)")
        let override = try ok(s1, compensation("K-1", "S-1", 25_000, approvedBy: "S-1", override: "severity 4, second failure"))
        #expect(override["remaining"] as? Int == 1_000_000 - 25_000)
        // A bound token names no one else as approver.
        #expect(try append(a1, compensation("K-1", "A-1", 10_000, approvedBy: "S-1")).hasPrefix("ERR forbidden"))
        // What finance is told on Monday evening.
        try clock.set("2026-12-01T02:00:00Z")  // Monday 21:00 in New York
        let mondayPosition = last
        let mondaySpending = try #require(okObject(try finance.request(week)))
        let mondayBudget = try #require(okObject(try finance.request("BUDGET A-1 \(monday)")))
        let mondayBudgets = try #require(okObject(try finance.request("BUDGETS \(monday)")))
        #expect(mondayBudget["spent"] as? Int == 30_000 && mondayBudget["reversals"] as? Int == 0)
        // Everyone with a setting is in the day's totals: S-1 by their opening allowance.
        #expect((mondayBudgets["agents"] as? [[String: Any]])?.map { $0["agent_id"] as? String } == ["A-1", "A-2", "S-1"])
        #expect(mondayBudgets["total_spent"] as? Int == 75_000 && mondayBudgets["total_allowance"] as? Int == 1_200_000)
        let overrides = try #require(okObject(try finance.request("SPENDING from=\(monday) to=\(monday) by=person"))?["rows"] as? [[String: Any]])
        #expect(overrides.first { $0["agent_id"] as? String == "S-1" }?["overrides"] as? Int == 1)
        #expect(overrides.first { $0["agent_id"] as? String == "S-1" }?["charged"] as? Int == 25_000)

        // Tuesday. A-1 takes Monday's compensation back: Monday is closed.
        try clock.set("2026-12-01T15:00:00Z")
        _ = try ok(a1, #""type":"compensation_reversal","agent_id":"A-1","case_id":"K-1","reverses":"\#(c1)","reason":"charged twice""#)
        #expect(okObject(try finance.request("BUDGET A-1 \(monday)")) as NSDictionary? == mondayBudget as NSDictionary, "Monday never changes")
        let tuesdayBudget = try #require(okObject(try finance.request("BUDGET A-1 \(tuesday)")))
        #expect(tuesdayBudget["spent"] as? Int == 0 && tuesdayBudget["late_reversals"] as? Int == 1 && tuesdayBudget["late_reversed"] as? Int == 30_000)
        #expect(tuesdayBudget["remaining"] as? Int == 100_000, "no room given back for a closed day")
        let afterReversal = try #require(okObject(try finance.request(week))?["rows"] as? [[String: Any]])
        let mondayRows = try #require(mondaySpending["rows"] as? [[String: Any]])
        for row in mondayRows where row["day"] as? String == monday {
            let now = afterReversal.first { $0["day"] as? String == monday && $0["agent_id"] as? String == row["agent_id"] as? String }
            #expect(now.map { $0 as NSDictionary } == row as NSDictionary, "Monday's row of \(row["agent_id"] ?? "?") stands")
        }
        let reversalEntry = try #require(afterReversal.first { $0["day"] as? String == tuesday && $0["agent_id"] as? String == "A-1" })
        #expect(reversalEntry["reversed"] as? Int == 30_000 && reversalEntry["net"] as? Int == -30_000 && reversalEntry["gross"] as? Int == 0)
        // K-2: followed up in time (answering 4), then asked again without the question.
        _ = try ok(a2, #""type":"follow_up","agent_id":"A-2","case_id":"K-2","satisfaction":8,"would_recommend":4"#)
        _ = try ok(a2, #""type":"follow_up","agent_id":"A-2","case_id":"K-2","satisfaction":9"#)
        // K-3: A-1's, answered 10, then the customer left.
        _ = try ok(a1, complaint("K-3", "C-3", "A-1"))
        _ = try ok(a1, #""type":"follow_up","agent_id":"A-1","case_id":"K-3","satisfaction":9,"resolved":false,"would_recommend":10"#)
        _ = try ok(a1, #""type":"defection","agent_id":"A-1","case_id":"K-3","reason":"moved to a competitor""#)

        // Wednesday: K-1 (due at the end of Tuesday) has no follow-up; K-4 opens.
        try clock.set("2026-12-02T15:00:00Z")
        _ = try ok(a2, complaint("K-4", "C-4", "A-2"))

        // Thursday: the figures, each computed here from the events above.
        try clock.set("2026-12-03T15:00:00Z")
        let outcomes = try #require(okObject(try finance.request("OUTCOMES by=agent")))
        // NPS: K-2 answered 4 (the re-measure left it), K-3 defected: two detractors, no promoter.
        #expect(outcomes["promoters"] as? Int == 0 && outcomes["passives"] as? Int == 0 && outcomes["detractors"] as? Int == 2)
        #expect(outcomes["nps"] as? Double == -100)
        // On time: K-2 and K-3 followed up by their deadlines; K-1 is past its own with none (K-4 is not due yet).
        #expect(outcomes["followed_up_on_time"] as? Int == 2 && outcomes["follow_ups_overdue"] as? Int == 1)
        #expect(outcomes["follow_up_on_time_rate"] as? Double == 0.6667)
        // Money by owner, and per paradox only over closed cases: K-2 (a paradox, 9 over 5) and K-3.
        let groups = try #require(outcomes["groups"] as? [[String: Any]])
        #expect(groups.first { $0["key"] as? String == "A-1" }?["compensation_owned"] as? Int == 25_000, "K-1 holds S-1's 25,000; A-1's 30,000 was reversed")
        #expect(groups.first { $0["key"] as? String == "A-2" }?["compensation_owned"] as? Int == 20_000)
        #expect(outcomes["paradox"] as? Int == 1)
        #expect(outcomes["compensation_closed"] as? Int == 20_000 && outcomes["compensation_per_paradox"] as? Int == 20_000, "K-1's 25,000 is open")

        // SPENDING at Monday evening's position is Monday evening's answer, exactly.
        var past = try #require(okObject(try finance.request("\(week) at=\(mondayPosition)")))
        #expect(past.removeValue(forKey: "at") as? Int == mondayPosition)
        #expect(past.removeValue(forKey: "at_hash") as? String == hashes[mondayPosition])
        #expect(past as NSDictionary == mondaySpending as NSDictionary)

        // Screens a New York desk reads.
        let due = try RecoveryCtlTests.ctl(daemon, "frontline", ["due"])
        #expect(due.output.contains("K-1") && due.output.contains("2026-12-01 23:59:59 -05:00") && due.output.contains("OVERDUE"), "\(due.output)")
        #expect(due.output.contains("(America/New_York)"), "\(due.output)")
        let utc = try RecoveryCtlTests.ctl(daemon, "frontline", ["due", "--utc"])
        #expect(utc.output.contains("2026-12-02 04:59:59 +00:00"), "\(utc.output)")
        let shown = try RecoveryCtlTests.ctl(daemon, "frontline", ["case", "K-1"])
        #expect(shown.output.contains("approved by S-1; over the customer's cap: severity 4, second failure"), "\(shown.output)")
        #expect(shown.output.contains("takes back 300.00 USD (position"), "\(shown.output)")
        #expect(shown.output.contains("charged to A-1"), "\(shown.output)")
        #expect(shown.output.contains("2026-11-30 10:00"), "times in New York: \(shown.output)")
        let k2 = try RecoveryCtlTests.ctl(daemon, "frontline", ["case", "K-2"])
        #expect(k2.output.contains("would recommend 4") && k2.output.contains("would recommend 4)"), "\(k2.output)")
        let table = try RecoveryCtlTests.ctl(daemon, "finance", ["outcomes", "--by", "agent"])
        #expect(table.output.contains("NPS") && table.output.contains("-100.00") && table.output.contains("66.7%"), "\(table.output)")
        #expect(table.output.contains("compensation owned"), "\(table.output)")

        // The log folds into exactly these tables.
        daemon.stop()
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
    }
}
