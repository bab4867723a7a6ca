import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

@Suite("recoveryd over TCP: requests, roles and bad input", .tags(.processes))
struct ProtocolEndToEndTests {
    @Test func helloAnswersRoleAndLimitsAndUnknownTokensAreRefused() throws {
        let daemon = try Daemon(arguments: ["--max-line", "4096"])
        let client = try daemon.client()
        #expect(try client.request("PING") == #"OK {"pong":true}"#)
        #expect(errorCode(try client.request("BUDGET A-7")) == "auth_required")
        #expect(errorCode(try client.request("HELLO wrong-token")) == "auth_required")
        let hello = try #require(okObject(try client.request("hello \(Daemon.tokens["finance"]!)")))
        #expect(hello["server"] as? String == "recoveryd")
        #expect(hello["protocol"] as? Int == 1)
        #expect(hello["role"] as? String == "finance")
        #expect(hello["position"] as? Int == 0)
        #expect(hello["max_line"] as? Int == 4096)
        #expect(try client.request("QUIT") == #"OK {"bye":true}"#)
        #expect(try client.readLine() == nil)
    }

    /// Which role may do what (docs/PROTOCOL.md, "Sessions and roles"): every verb against every role.
    @Test func everyRequestIsServedToItsRolesAndForbiddenToOthers() throws {
        let daemon = try Daemon()
        let admin = try daemon.client("admin")
        #expect(okObject(try admin.request("APPEND " + Events.complaint(1, caseID: "K-1"))) != nil)
        let requests: [(String, Set<String>)] = [
            ("APPEND " + Events.followUp(2, caseID: "K-1", satisfaction: 7), ["frontline", "admin"]),
            ("CASE K-1", ["frontline", "auditor", "finance", "admin"]),
            ("BUDGET A-7", ["frontline", "finance", "admin"]),
            ("BUDGETS 2026-11-22", ["finance", "admin"]),
            ("OUTCOMES", ["auditor", "finance", "admin"]),
            ("REPLAY 1", ["auditor", "admin"]),
            ("VERIFY", ["auditor", "admin"]),
            ("SUBSCRIBE 1", ["auditor", "admin"]),
        ]
        for role in Daemon.tokens.keys.sorted() {
            for (request, allowed) in requests {
                let client = try daemon.client(role)
                // A subscription's final line comes only after UNSUBSCRIBE.
                try client.send(request + (request.hasPrefix("SUBSCRIBE") ? "\nUNSUBSCRIBE\n" : "\n"))
                var answer = try #require(try client.readLine())
                while answer.hasPrefix("EVENT ") { answer = try #require(try client.readLine()) }
                if allowed.contains(role) {
                    #expect(answer.hasPrefix("OK"), "\(role) \(request): \(answer)")
                } else {
                    #expect(errorCode(answer) == "forbidden", "\(role) \(request): \(answer)")
                }
            }
        }
    }

    @Test func badInputGetsItsErrorAndTheConnectionStaysUsable() throws {
        let daemon = try Daemon(arguments: ["--max-line", "1024"])
        let client = try daemon.client("admin")
        #expect(okObject(try client.request("APPEND " + Events.complaint(1, caseID: "K-1"))) != nil)
        let cases: [(String, String)] = [
            ("FROB", "unknown_command"),
            ("APPEND", "bad_request"),
            ("APPEND {not json", "bad_request"),
            ("APPEND [1]", "bad_request"),
            (#"APPEND {"type":"apology"}"#, "invalid"),
            ("APPEND " + Events.compensation(9, caseID: "K-1", amount: 10).replacingOccurrences(of: "USD", with: "EUR"), "invalid"),
            ("APPEND " + Events.compensation(9, caseID: "K-1", amount: 10).replacingOccurrences(of: ":10,", with: ":10.5,"), "invalid"),
            ("APPEND " + Events.compensation(9, caseID: "NOPE", amount: 10), "not_found"),
            ("APPEND " + Events.complaint(10, caseID: "K-1"), "conflict"),
            ("APPEND " + Events.compensation(11, caseID: "K-1", amount: 200_001), "budget_exceeded"),
            ("APPEND " + Events.complaint(1, caseID: "K-1", baseline: 2), "conflict"),  // same event_id, other content
            ("CASE NOPE", "not_found"),
            ("CASE bad/id", "bad_request"),
            ("BUDGET A-7 2026-02-30", "bad_request"),
            ("OUTCOMES by=planet", "bad_request"),
            ("REPLAY 0", "bad_request"),
            ("REPLAY 50", "not_found"),
            ("UNSUBSCRIBE", "bad_request"),
            ("VERIFY 5 1", "bad_request"),
            (String(repeating: "x", count: 1025), "too_large"),
            ("APPEND " + String(repeating: "y", count: 5_000), "too_large"),
        ]
        for (request, code) in cases {
            let answer = try client.request(request)
            #expect(errorCode(answer) == code, "\(request.prefix(60)) → \(answer)")
            #expect(try client.request("PING") == #"OK {"pong":true}"#)
        }
        // A line exactly at the limit is served.
        let padded = "CASE K-1" + String(repeating: " ", count: 0)
        #expect(okObject(try client.request(padded)) != nil)
        // Nothing refused was recorded.
        let audit = try daemon.client("auditor")
        #expect(try audit.stream("REPLAY 1").events.count == 1)
    }

    @Test func answersReadyAtOnceKeepTheirOrder() throws {
        let daemon = try Daemon()
        let client = try daemon.client()
        // HELLO is answered at once, BUDGET from memory at once, QUIT closes:
        // all three answers arrive, in order, before the close.
        try client.send("HELLO \(Daemon.tokens["frontline"]!)\nBUDGET A-7\nPING\nQUIT\n")
        #expect(okObject(try #require(try client.readLine()))?["role"] as? String == "frontline")
        #expect(okObject(try #require(try client.readLine()))?["agent_id"] as? String == "A-7")
        #expect(try client.readLine() == #"OK {"pong":true}"#)
        #expect(try client.readLine() == #"OK {"bye":true}"#)
        #expect(try client.readLine() == nil)
    }

    @Test func aThousandPipelinedAppendsAreAnsweredInOrder() throws {
        let daemon = try Daemon()
        let client = try daemon.client("frontline")
        var batch = "APPEND " + Events.complaint(0, caseID: "P-0") + "\n"
        for n in 1..<1_000 { batch += "APPEND " + Events.complaint(n, caseID: "P-\(n)") + "\nPING\n" }
        try client.send(batch)
        var positions: [Int] = []
        for n in 0..<1_000 {
            let answer = try #require(try client.readLine())
            positions.append(try #require(okObject(answer)?["position"] as? Int, "\(answer)"))
            if n > 0 { #expect(try client.readLine() == #"OK {"pong":true}"#) }
        }
        #expect(positions == Array(1...1_000))
    }

    @Test func atMaxPendingReadingPausesAndResumesWithNothingLost() throws {
        let daemon = try Daemon(arguments: ["--max-pending", "4"])
        let client = try daemon.client("frontline")
        var batch = ""
        for n in 1...300 { batch += "APPEND " + Events.complaint(n, caseID: "Q-\(n)") + "\nPING\n" }
        try client.send(batch)
        for n in 1...300 {
            #expect(okObject(try #require(try client.readLine()))?["position"] as? Int == n)
            #expect(try client.readLine() == #"OK {"pong":true}"#)
        }
    }

    @Test func aCompensationsAnswerSaysWhatIsLeftAndWarnsBelowTheThreshold() throws {
        let daemon = try Daemon()
        let admin = try daemon.client("admin")
        #expect(okObject(try admin.request("HELLO admin-token"))?["warn_below_percent"] as? Int == 20)
        #expect(okObject(try admin.request("APPEND " + Events.complaint(700, caseID: "WARN-1", agent: "A-70"))) != nil)
        let roomy = try #require(okObject(try admin.request("APPEND " + Events.compensation(701, caseID: "WARN-1", amount: 100_000, agent: "A-70"))))
        #expect(roomy["remaining"] as? Int == 100_000)
        #expect(roomy["warning"] as? Bool == false)
        let tight = try #require(okObject(try admin.request("APPEND " + Events.compensation(702, caseID: "WARN-1", amount: 70_000, agent: "A-70"))))
        #expect(tight["remaining"] as? Int == 30_000)
        #expect(tight["warning"] as? Bool == true)
        let again = try #require(okObject(try admin.request("APPEND " + Events.compensation(702, caseID: "WARN-1", amount: 70_000, agent: "A-70"))))
        #expect(again["duplicate"] as? Bool == true)
        #expect(again["remaining"] == nil)
    }

    @Test func caseBudgetBudgetsAndOutcomesTellTheStory() throws {
        let daemon = try Daemon(arguments: ["--supervisor", "S-1"])
        let front = try daemon.client("frontline")
        for request in [
            Events.complaint(1, caseID: "K-1", baseline: 5), Events.compensation(2, caseID: "K-1", amount: 15_000),
            Events.compensation(3, caseID: "K-1", amount: 250_000, approvedBy: "S-1"),
            Events.followUp(4, caseID: "K-1", satisfaction: 9),
            Events.complaint(5, caseID: "K-2", agent: "A-8", baseline: 7), Events.followUp(6, caseID: "K-2", satisfaction: 7),
        ] {
            #expect(okObject(try front.request("APPEND " + request)) != nil)
        }
        let caseAnswer = try #require(okObject(try front.request("CASE K-1")))
        #expect(caseAnswer["outcome"] as? String == "paradox")
        #expect(caseAnswer["compensation_net"] as? Int == 265_000)
        #expect(caseAnswer["uplift"] as? Int == 4)
        // Position 1 is the ledger's opening event: S-1 made a supervisor by --supervisor.
        #expect((caseAnswer["events"] as? [[String: Any]])?.map { $0["position"] as? Int } == [2, 3, 4, 5])

        let budget = try #require(okObject(try front.request("BUDGET A-7")))
        #expect(budget["spent"] as? Int == 15_000)
        #expect(budget["remaining"] as? Int == 185_000)
        #expect(budget["currency"] as? String == "USD")
        let supervisor = try #require(okObject(try front.request("BUDGET S-1")))
        #expect(supervisor["allowance"] as? Int == 1_000_000)
        #expect(supervisor["spent"] as? Int == 250_000)
        let day = try #require(budget["day"] as? String)

        let finance = try daemon.client("finance")
        let budgets = try #require(okObject(try finance.request("BUDGETS \(day)")))
        #expect((budgets["agents"] as? [[String: Any]])?.map { $0["agent_id"] as? String } == ["A-7", "S-1"])
        #expect(budgets["total_spent"] as? Int == 265_000)
        // Without a day: today, as BUDGET.
        #expect(try finance.request("BUDGETS") == finance.request("BUDGETS \(day)"))
        // A past day is read from the tables: nothing was spent then.
        let past = try #require(okObject(try finance.request("BUDGETS 2020-01-01")))
        #expect((past["agents"] as? [Any])?.isEmpty == true)
        #expect(okObject(try finance.request("BUDGET A-7 2020-01-01"))?["spent"] as? Int == 0)

        let outcomes = try #require(okObject(try finance.request("OUTCOMES by=agent")))
        #expect(outcomes["paradox"] as? Int == 1)
        #expect(outcomes["restored"] as? Int == 1)
        #expect("\(outcomes["paradox_rate"]!)" == "0.5")
        #expect((outcomes["groups"] as? [[String: Any]])?.map { $0["key"] as? String } == ["A-7", "A-8"])
        let none = try #require(okObject(try finance.request("OUTCOMES from=2020-01-01 to=2020-01-31")))
        #expect(none["cases"] as? Int == 0)
        #expect(none["paradox_rate"] is NSNull)
    }

    @Test func twentyClientsRacingForTenSlotsOfOneAllowance() throws {
        let daemon = try Daemon()
        let admin = try daemon.client("admin")
        #expect(okObject(try admin.request(#"APPEND {"event_id":"\#(Events.id(900))","type":"allowance","agent_id":"A-9","daily_limit":10000}"#)) != nil)
        #expect(okObject(try admin.request("APPEND " + Events.complaint(901, caseID: "RACE", agent: "A-9"))) != nil)
        let clients = try (0..<20).map { _ in try daemon.client("frontline") }
        let answers = Answers()
        DispatchQueue.concurrentPerform(iterations: 20) { index in
            let answer = (try? clients[index].request("APPEND " + Events.compensation(index, caseID: "RACE", amount: 1_000, agent: "A-9", salt: 7))) ?? "no answer"
            answers.add(answer)
        }
        let all = answers.all
        #expect(all.filter { $0.hasPrefix("OK") }.count == 10)
        #expect(all.filter { errorCode($0) == "budget_exceeded" }.count == 10)
        #expect(okObject(try admin.request("BUDGET A-9"))?["spent"] as? Int == 10_000)
    }

    @Test func idleConnectionsAreClosedAndTheConnectionLimitRefusesClearly() throws {
        let daemon = try Daemon(arguments: ["--idle-timeout", "1", "--max-connections", "2"])
        usleep(300_000)  // the start-up probe's connection is released
        // Each admitted before the next connects (admission runs on several event loops).
        let idle = try daemon.client()
        #expect(try idle.request("PING") == #"OK {"pong":true}"#)
        let second = try daemon.client()
        #expect(try second.request("PING") == #"OK {"pong":true}"#)
        let third = try daemon.client()
        let refusal = try third.readLine()
        #expect(errorCode(refusal ?? "") == "unavailable", "\(String(describing: refusal)) \(daemon.log.suffix(600))")
        #expect(try third.readLine() == nil)
        #expect(try second.request("PING") == #"OK {"pong":true}"#)
        #expect(errorCode(try #require(try idle.readLine())) == "timeout")
        #expect(try idle.readLine() == nil)
    }
}

/// Answers collected from several threads.
final class Answers: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) {
        lock.lock()
        lines.append(line)
        lock.unlock()
    }
    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }
}
