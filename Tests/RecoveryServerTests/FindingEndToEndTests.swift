import Foundation
import Testing

/// `CASES` and `PEOPLE` (issue 13): a returning customer's history without
/// making them repeat it, and who may approve before trying.
@Suite("Finding cases and people", .tags(.processes))
struct FindingEndToEndTests {
    @Test func casesPageThroughACustomersHistoryNewestFirst() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        func complaint(_ n: Int, customer: String, agent: String, occurred: String) -> String {
            #"{"event_id":"\#(Events.id(n))","type":"complaint","agent_id":"\#(agent)","case_id":"C\#(n)","customer_id":"\#(customer)","channel":"chat","category":"late","severity":2,"baseline":5,"occurred_at":"\#(occurred)"}"#
        }
        for n in 1...5 {
            #expect(okObject(try front.request("APPEND " + complaint(n, customer: "CU-1", agent: n % 2 == 0 ? "A-2" : "A-1", occurred: "2026-01-0\(n)T10:00:00Z"))) != nil)
        }
        #expect(okObject(try front.request("APPEND " + complaint(6, customer: "CU-2", agent: "A-1", occurred: "2026-01-09T10:00:00Z"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.followUp(7, caseID: "C5", satisfaction: 9))) != nil)

        let first = try #require(okObject(try front.request("CASES customer=CU-1 limit=2")))
        let firstIDs = (first["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String }
        #expect(firstIDs == ["C5", "C4"], "newest first")
        #expect(first["next"] as? String == "C4")
        let second = try #require(okObject(try front.request("CASES customer=CU-1 limit=2 after=C4")))
        #expect((second["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String } == ["C3", "C2"])
        let last = try #require(okObject(try front.request("CASES customer=CU-1 limit=2 after=C2")))
        #expect((last["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String } == ["C1"])
        #expect(last["next"] is NSNull)
        let summary = try #require((first["cases"] as? [[String: Any]])?.first)
        #expect(summary["status"] as? String == "closed")
        #expect(summary["outcome"] as? String == "paradox")
        #expect(summary["customer_id"] as? String == "CU-1")

        let owned = try #require(okObject(try front.request("CASES owner=A-2")))
        #expect((owned["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String } == ["C4", "C2"])
        let open = try #require(okObject(try front.request("CASES customer=CU-1 status=open")))
        #expect((open["cases"] as? [[String: Any]])?.count == 4)
        #expect(errorCode(try front.request("CASES status=lost")) == "bad_request")
        #expect(errorCode(try front.request("CASES limit=501")) == "bad_request")
        #expect(errorCode(try front.request("CASES customer=CU-1 customer=CU-2")) == "bad_request")
        #expect(okObject(try front.request("CASES customer=NOBODY"))?["cases"] as? [Any] != nil)

        let ctl = try RecoveryCtlTests.ctl(daemon, "frontline", ["cases", "--customer", "CU-1", "--limit", "3"])
        #expect(ctl.status == 0, "\(ctl.output)")
        #expect(ctl.output.contains("C5") && ctl.output.contains("more: --after C3"), "\(ctl.output)")
    }

    @Test func peopleListsEveryoneWithASettingOrACharge() throws {
        let daemon = try Daemon(arguments: ["--supervisor", "S-9"])
        let admin = try daemon.client("admin")
        #expect(okObject(try admin.request(#"APPEND {"event_id":"\#(Events.id(90))","type":"allowance","agent_id":"SUP-1","daily_limit":500000,"role":"supervisor"}"#)) != nil)
        #expect(okObject(try admin.request("APPEND " + Events.complaint(1, caseID: "P-1", agent: "A-7"))) != nil)
        #expect(okObject(try admin.request("APPEND " + Events.compensation(2, caseID: "P-1", amount: 1_000, agent: "A-7"))) != nil)
        let people = try #require(okObject(try daemon.client("finance").request("PEOPLE")))
        let rows = try #require(people["people"] as? [[String: Any]])
        #expect(rows.map { $0["agent_id"] as? String } == ["A-7", "S-9", "SUP-1"])
        #expect(rows.map { $0["role"] as? String } == ["agent", "supervisor", "supervisor"])
        #expect(rows.map { $0["allowance"] as? Int } == [200_000, 1_000_000, 500_000])
        #expect(errorCode(try daemon.client("frontline").request("PEOPLE")) == "forbidden")
        let ctl = try RecoveryCtlTests.ctl(daemon, "finance", ["people"])
        #expect(ctl.output.contains("SUP-1") && ctl.output.contains("5000.00 USD"), "\(ctl.output)")
    }
}

/// Follow-up deadlines (issue 13): what is due today, for whom, and how often
/// the first follow-up came in time.
@Suite("Follow-up deadlines", .tags(.processes))
struct FollowUpEndToEndTests {
    @Test func dueListsOpenCasesNotFollowedUpByTheEndOfToday() throws {
        let daemon = try Daemon(arguments: ["--follow-up-within-days", "0"])
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("HELLO front-token"))?["follow_up_within_days"] as? Int == 0)
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "DUE-1", agent: "A-1"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.complaint(2, caseID: "DUE-2", agent: "A-2"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.complaint(3, caseID: "DUE-3", agent: "A-1"))) != nil)
        #expect(okObject(try front.request("APPEND " + Events.followUp(4, caseID: "DUE-3", satisfaction: 8))) != nil)

        let due = try #require(okObject(try front.request("DUE")))
        let cases = try #require(due["cases"] as? [[String: Any]])
        #expect(cases.map { $0["case_id"] as? String } == ["DUE-1", "DUE-2"])
        let today = try #require(due["day"] as? String)
        #expect(cases.first?["follow_up_due"] as? String == "\(today)T23:59:59.999999Z", "the end of today in the ledger's time zone, UTC")
        #expect((okObject(try front.request("DUE A-2"))?["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String } == ["DUE-2"])
        #expect(errorCode(try daemon.client("auditor").request("DUE")) == "forbidden")

        let followed = try #require(okObject(try front.request("CASE DUE-3")))
        #expect(followed["follow_up_late"] as? Bool == false)
        #expect(okObject(try front.request("CASE DUE-1"))?["follow_up_late"] is NSNull)
        #expect(okObject(try daemon.client("finance").request("OUTCOMES"))?["follow_up_on_time_rate"] as? Double == 1)

        // The deadlines survive a restart and match a rebuild; the setting cannot change.
        daemon.stop()
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
        let changed = try Daemon.run([
            "serve", "--listen", "127.0.0.1:0", "--database", daemon.conninfo, "--token-file", daemon.folder.appending(path: "tokens").path,
            "--data-dir", daemon.folder.path, "--follow-up-within-days", "3",
        ])
        #expect(changed.status != 0)
        #expect(
            changed.output.contains("--follow-up-within-days 3 differs from the ledger's log, which says follow_up_within_days = 0"),
            "\(changed.output)")
    }
}

/// First versus repeat failures (issue 13), through the daemon's writer,
/// across a restart (the customer's history is read from the tables).
@Suite("First and repeat failures", .tags(.processes))
struct RepeatEndToEndTests {
    @Test func aReturningCustomersComplaintIsARepeatAcrossRestarts() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        #expect(okObject(try front.request("HELLO front-token"))?["repeat_window_days"] as? Int == 365)
        func complaint(_ n: Int, _ caseID: String, _ customer: String) -> String {
            #"APPEND {"event_id":"\#(Events.id(n))","type":"complaint","agent_id":"A-7","case_id":"\#(caseID)","customer_id":"\#(customer)","channel":"phone","category":"late","severity":3,"baseline":5}"#
        }
        // Two complaints of one customer sent together (one batch, or one
        // batch behind the other): the second sees the first.
        try front.send(complaint(1, "RP-1", "CU-Z") + "\n" + complaint(2, "RP-2", "CU-Z") + "\n")
        #expect(okObject(try front.readLine() ?? "") != nil)
        #expect(okObject(try front.readLine() ?? "") != nil)
        #expect(okObject(try front.request("CASE RP-1"))?["repeat"] as? Bool == false)
        let second = try #require(okObject(try front.request("CASE RP-2")))
        #expect(second["repeat"] as? Bool == true)
        #expect(second["prior_cases"] as? Int == 1)

        daemon.stop()
        try daemon.start()
        let again = try daemon.client("frontline")
        let event = #"{"event_id":"\#(Events.id(3))","type":"complaint","agent_id":"A-7","case_id":"RP-3","customer_id":"CU-Z","channel":"phone","category":"late","severity":3}"#
        #expect(okObject(try again.request("APPEND " + event)) != nil)
        #expect(okObject(try again.request("CASE RP-3"))?["prior_cases"] as? Int == 2, "the history was read from the tables")
        let fresh = #"{"event_id":"\#(Events.id(4))","type":"complaint","agent_id":"A-7","case_id":"RP-4","customer_id":"CU-NEW","channel":"phone","category":"late","severity":3}"#
        #expect(okObject(try again.request("APPEND " + fresh)) != nil)
        #expect(okObject(try again.request("CASE RP-4"))?["repeat"] as? Bool == false)
        #expect((okObject(try again.request("CASES customer=CU-Z"))?["cases"] as? [[String: Any]])?.first?["prior_cases"] as? Int == 2)

        let outcomes = try #require(okObject(try daemon.client("finance").request("OUTCOMES by=repeat")))
        let groups = try #require(outcomes["groups"] as? [[String: Any]])
        #expect(groups.map { $0["key"] as? String } == ["first", "repeat"])
        #expect(groups.map { $0["cases"] as? Int } == [2, 2])
        daemon.stop()
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
    }
}

/// The per-customer daily cap (issue 13): twenty agents compensating one
/// customer at once never pass it.
@Suite("A customer's daily cap", .tags(.processes))
struct CustomerCapEndToEndTests {
    @Test func twentyConcurrentCompensationsForOneCustomerNeverPassTheCap() throws {
        let daemon = try Daemon(arguments: ["--customer-daily-cap", "25000"])
        let setup = try daemon.client("frontline")
        #expect(okObject(try setup.request("HELLO front-token"))?["customer_daily_cap"] as? Int == 25_000)
        for n in 1...20 {
            let complaint = #"{"event_id":"\#(Events.id(n))","type":"complaint","agent_id":"AG-\#(n)","case_id":"CC-\#(n)","customer_id":"VIP-1","channel":"chat","category":"late","severity":3}"#
            #expect(okObject(try setup.request("APPEND " + complaint)) != nil)
        }
        // Twenty agents, each on a connection of their own, 3,000 each, all at once.
        let answers = try daemon.atOnce(
            "frontline", (1...20).map { "APPEND " + Events.compensation(100 + $0, caseID: "CC-\($0)", amount: 3_000, agent: "AG-\($0)") })
        let accepted = answers.filter { okObject($0) != nil }.count
        let capped = answers.filter { $0.hasPrefix("ERR budget_exceeded customer VIP-1 has") }.count
        #expect(accepted == 8, "25,000 ÷ 3,000: eight fit, \(answers)")
        #expect(capped == 12)
        let net = try (1...20).reduce(0) { sum, n in sum + ((okObject(try setup.request("CASE CC-\(n)"))?["compensation_net"] as? Int) ?? 0) }
        #expect(net == 24_000)
        daemon.stop()
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
        // After a restart the day's total is read back: one more 3,000 does not fit, 1,000 does.
        try daemon.start()
        let after = try daemon.client("frontline")
        #expect(errorCode(try after.request("APPEND " + Events.compensation(200, caseID: "CC-1", amount: 3_000, agent: "AG-1"))) == "budget_exceeded")
        #expect(okObject(try after.request("APPEND " + Events.compensation(201, caseID: "CC-1", amount: 1_000, agent: "AG-1"))) != nil)
    }
}
