import Foundation
import Testing

/// The daemon's wall clock, moved by the test: libfaketime is preloaded into
/// the daemon and reads its offset from a file on every call, so the test can
/// make a day pass between two requests. Only the daemon's clock moves (not
/// its monotonic clock, nor file times, nor the test's or PostgreSQL's clock).
final class DaemonClock {
    let file: URL
    let library: String

    init(folder: URL) throws {
        let candidates = ["x86_64-linux-gnu", "aarch64-linux-gnu"].map { "/usr/lib/\($0)/faketime/libfaketime.so.1" }
        guard let library = candidates.first(where: FileManager.default.fileExists(atPath:)) else {
            throw DaemonError("libfaketime is not installed (deploy/install-deps.sh installs it)")
        }
        self.library = library
        file = folder.appending(path: "faketime.rc")
    }

    /// Makes the daemon's clock read `rfc3339` now (and run on from there).
    /// The offset is whole seconds, rounded up: the clock reads the target or
    /// up to a second after it, never the second before (a time shown as
    /// 09:59:59 would be on the wrong side of a boundary the test means).
    func set(_ rfc3339: String) throws {
        let formatter = ISO8601DateFormatter()
        guard let target = formatter.date(from: rfc3339) else { throw DaemonError("not a time: \(rfc3339)") }
        try "\(Int(target.timeIntervalSinceNow.rounded(.up)))\n".withSign().write(to: file, atomically: true, encoding: .utf8)
    }

    var environment: [String: String] {
        [
            "LD_PRELOAD": library, "FAKETIME_TIMESTAMP_FILE": file.path, "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1", "NO_FAKE_STAT": "1",
        ]
    }
}

extension String {
    /// libfaketime's offsets start with a sign.
    fileprivate func withSign() -> String { hasPrefix("-") ? self : "+" + self }
}

/// Issue 13's end-to-end check: a week of recovery in New York, across the
/// change to summer time, for several agents and customers. Then `DUE`,
/// `OUTCOMES by=repeat` with NPS, the per-customer cap under a race, and
/// answers `at=` earlier positions against those given live at the time.
@Suite("A scripted week", .tags(.processes))
struct ScriptedWeekEndToEndTests {
    /// The answers to `requests` now, by request, with the position they are at.
    static func answers(_ client: LineClient, _ requests: [String]) throws -> [String: NSDictionary] {
        var answers: [String: NSDictionary] = [:]
        for request in requests {
            let line = try client.request(request)
            answers[request] = try #require(okObject(line).map { $0 as NSDictionary }, "\(request): \(line)")
        }
        return answers
    }

    @Test func aWeekOfRecoveriesAnswersDueOutcomesCapsAndEarlierPositions() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-week-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let clock = try DaemonClock(folder: folder)
        try clock.set("2026-03-02T15:00:00Z")  // Monday 10:00 in New York (EST)
        let daemon = try Daemon(
            arguments: ["--time-zone", "America/New_York", "--follow-up-within-days", "2", "--customer-daily-cap", "30000"],
            environment: clock.environment)
        let front = try daemon.client("frontline")
        let finance = try daemon.client("finance")
        var receipts: [Int64: String] = [:]
        var next = 0
        var last: Int64 = 0
        @discardableResult
        func append(_ fields: String) throws -> [String: Any] {
            next += 1
            let line = try front.request(#"APPEND {"event_id":"\#(Events.id(next, salt: 7))",\#(fields)}"#)
            let ok = try #require(okObject(line), "\(fields): \(line)")
            last = try #require(ok["position"] as? Int).int64
            receipts[last] = ok["hash"] as? String
            return ok
        }
        func complaint(_ caseID: String, _ customer: String, _ agent: String, baseline: Int) throws {
            try append(#""type":"complaint","agent_id":"\#(agent)","case_id":"\#(caseID)","customer_id":"\#(customer)","channel":"phone","category":"late","severity":3,"baseline":\#(baseline)"#)
        }
        func followUp(_ caseID: String, _ agent: String, satisfaction: Int, recommend: Int) throws {
            try append(#""type":"follow_up","agent_id":"\#(agent)","case_id":"\#(caseID)","satisfaction":\#(satisfaction),"would_recommend":\#(recommend)"#)
        }
        func compensation(_ caseID: String, _ agent: String, _ amount: Int) throws -> [String: Any] {
            try append(#""type":"compensation","agent_id":"\#(agent)","case_id":"\#(caseID)","amount":\#(amount),"currency":"USD","kind":"refund""#)
        }
        let watched = [
            "CASE K1", "CASE K2", "BUDGET A-1 2026-03-02", "BUDGET A-2 2026-03-04", "BUDGETS 2026-03-02", "BUDGETS 2026-03-05",
            "OUTCOMES by=repeat", "OUTCOMES by=agent",
        ]

        // Monday: three customers complain; K1 is compensated at once.
        try complaint("K1", "CU-1", "A-1", baseline: 5)
        try complaint("K2", "CU-2", "A-2", baseline: 6)
        try append(#""type":"apology","agent_id":"A-2","case_id":"K2""#)
        let spent = try compensation("K1", "A-1", 5_000)
        #expect(spent["remaining"] as? Int == 195_000)
        #expect(spent["warning"] as? Bool == false)
        try complaint("K5", "CU-5", "A-3", baseline: 4)
        // The flags were recorded as the ledger's first three events.
        #expect(last == Int64(next) + 3)
        let monday = (position: last, answers: try Self.answers(finance, watched))
        #expect((monday.answers["CASE K1"]?["follow_up_due"] as? String) == "2026-03-05T04:59:59.999999Z", "end of Wednesday, EST")

        // Tuesday: K1 is followed up in time (a promoter, the paradox); CU-1 complains again.
        try clock.set("2026-03-03T15:00:00Z")
        try followUp("K1", "A-1", satisfaction: 8, recommend: 10)
        try complaint("K3", "CU-1", "A-3", baseline: 7)

        // Wednesday: K2 is compensated, which moves its deadline to Friday.
        try clock.set("2026-03-04T15:00:00Z")
        _ = try compensation("K2", "A-2", 20_000)

        // Thursday: twenty agents compensate CU-1's K3 at once; the cap
        // (30,000 a day per customer) lets fifteen of the 2,000s through.
        try clock.set("2026-03-05T15:00:00Z")
        let answers = try daemon.atOnce(
            "frontline",
            (1...20).map {
                #"APPEND {"event_id":"\#(Events.id(1_000 + $0, salt: 7))","type":"compensation","agent_id":"AG-\#($0)","case_id":"K3","amount":2000,"currency":"USD","kind":"credit"}"#
            })
        #expect(answers.filter { okObject($0) != nil }.count == 15, "\(answers)")
        #expect(answers.filter { $0.hasPrefix("ERR budget_exceeded customer CU-1 has") }.count == 5, "\(answers)")
        let signed = try #require(okObject(try finance.request("HEAD")))
        let head = try #require(signed["position"] as? Int).int64
        receipts[head] = signed["hash"] as? String
        let thursday = (position: head, answers: try Self.answers(finance, watched))

        // Friday: K3 is followed up in time, but the customer is unhappy (a detractor).
        try clock.set("2026-03-06T15:00:00Z")
        try followUp("K3", "A-3", satisfaction: 4, recommend: 2)
        // Saturday: K2's follow-up comes a day late (a passive); CU-4 complains.
        try clock.set("2026-03-07T15:00:00Z")
        try followUp("K2", "A-2", satisfaction: 6, recommend: 7)
        try complaint("K4", "CU-4", "A-2", baseline: 5)

        // Sunday, the first day of summer time: what is due today.
        try clock.set("2026-03-08T16:00:00Z")
        let due = try #require(okObject(try front.request("DUE")))
        #expect(due["day"] as? String == "2026-03-08")
        #expect((due["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String } == ["K5"], "K4 is due on Monday")
        #expect((okObject(try front.request("DUE A-2"))?["cases"] as? [[String: Any]])?.isEmpty == true)
        let k4 = try #require(okObject(try front.request("CASE K4")))
        #expect(k4["follow_up_due"] as? String == "2026-03-10T03:59:59.999999Z", "end of Monday, EDT")
        #expect(okObject(try front.request("CASE K2"))?["follow_up_late"] as? Bool == true)
        #expect(okObject(try front.request("CASE K3"))?["follow_up_late"] as? Bool == false)
        // Monday: K4 joins the list, oldest first.
        try clock.set("2026-03-09T15:00:00Z")
        #expect((okObject(try front.request("DUE"))?["cases"] as? [[String: Any]])?.map { $0["case_id"] as? String } == ["K5", "K4"])

        // OUTCOMES by=repeat: the paradox after a first failure, not after the repeat.
        let outcomes = try #require(okObject(try finance.request("OUTCOMES by=repeat")))
        #expect(outcomes["promoters"] as? Int == 1 && outcomes["passives"] as? Int == 1 && outcomes["detractors"] as? Int == 1)
        #expect(outcomes["nps"] as? Double == 0)
        // K1 and K3 on time, K2 late, and K5 past its deadline with none: 2 of 4.
        #expect(outcomes["follow_up_on_time_rate"] as? Double == 0.5)
        #expect(outcomes["follow_ups_overdue"] as? Int == 1)
        let groups = try #require(outcomes["groups"] as? [[String: Any]])
        #expect(groups.map { $0["key"] as? String } == ["first", "repeat"])
        #expect(groups.map { $0["cases"] as? Int } == [4, 1])
        #expect(groups.map { $0["paradox"] as? Int } == [1, 0])
        #expect(groups.map { $0["restored"] as? Int } == [1, 0])
        #expect(groups.map { $0["unrecovered"] as? Int } == [0, 1])
        #expect(groups.map { $0["nps"] as? Double } == [50, -100])
        let k3 = try #require(okObject(try finance.request("CASE K3")))
        #expect(k3["repeat"] as? Bool == true && k3["prior_cases"] as? Int == 1 && k3["compensation_net"] as? Int == 30_000)

        // at=: each earlier answer again, as it was given then, tied to the chain.
        for moment in [monday, thursday] {
            for (request, then) in moment.answers {
                let line = try finance.request("\(request) at=\(moment.position)")
                var past = try #require(okObject(line), "\(request) at=\(moment.position): \(line)")
                #expect(past.removeValue(forKey: "at") as? Int == Int(moment.position))
                #expect(past.removeValue(forKey: "at_hash") as? String == receipts[moment.position])
                #expect(past as NSDictionary == then, "\(request) at=\(moment.position)")
            }
        }
        // At the head, every answer is the live one.
        let now = try #require(okObject(try finance.request("HEAD"))?["position"] as? Int)
        let live = try Self.answers(finance, watched + ["CASE K3", "CASE K4", "OUTCOMES", "BUDGETS 2026-03-07"])
        for (request, answer) in live {
            var past = try #require(okObject(try finance.request("\(request) at=\(now)")))
            past["at"] = nil
            past["at_hash"] = nil
            #expect(past as NSDictionary == answer, "\(request) at the head")
        }
        #expect(errorCode(try finance.request("CASE K4 at=\(monday.position)")) == "not_found", "K4 was not open on Monday")
        #expect(errorCode(try finance.request("OUTCOMES at=\(now + 1)")) == "not_found")
        let empty = try #require(okObject(try finance.request("OUTCOMES at=0")))
        #expect(empty["cases"] as? Int == 0 && empty["at_hash"] as? String == String(repeating: "0", count: 64))

        let ctl = try RecoveryCtlTests.ctl(daemon, "finance", ["budget", "A-1", "2026-03-02", "--at", "\(monday.position)"])
        #expect(ctl.status == 0, "\(ctl.output)")
        #expect(ctl.output.contains("as of position \(monday.position) (chain hash \(receipts[monday.position] ?? "?"))"), "\(ctl.output)")
        #expect(ctl.output.contains("spent 50.00 USD"), "\(ctl.output)")

        // The log folds into exactly the tables the week wrote.
        daemon.stop()
        let rebuild = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(rebuild.status == 0, "\(rebuild.output)")
        // No flag: rebuild reads the settings from the log, and refuses any flag given.
        let flagged = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo, "--time-zone", "America/New_York"])
        #expect(flagged.status != 0 && flagged.output.contains("--time-zone no longer applies to rebuild"), "\(flagged.output)")
    }
}

extension Int {
    fileprivate var int64: Int64 { Int64(self) }
}
