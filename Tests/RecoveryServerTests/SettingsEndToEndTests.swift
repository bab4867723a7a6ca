import Foundation
import LedgerStore
import PostgresTestSupport
import RecoveryDomain
import Testing

/// Issue 22: the log is the only truth. Settings are events; rebuild and
/// restart take none from flags; one process per data directory.
@Suite("Settings are events in the log", .tags(.processes))
struct SettingsEndToEndTests {
    static let flags = [
        "--supervisor", "S-1", "--supervisor", "S-2", "--default-allowance", "20000", "--supervisor-allowance", "100000",
        "--customer-daily-cap", "50000", "--warn-below-percent", "30", "--time-zone", "America/New_York",
    ]

    static let watched = ["BUDGET A-1", "BUDGET S-1", "BUDGET A-9", "BUDGETS", "OUTCOMES by=agent", "CASE K-1", "SETTINGS", "PEOPLE", "SPENDING from=2020-01-01 to=2020-12-31"]

    static func answers(_ daemon: Daemon) throws -> [String: NSDictionary] {
        let admin = try daemon.client("admin")
        var answers: [String: NSDictionary] = [:]
        for request in watched {
            let line = try admin.request(request)
            answers[request] = try #require(okObject(line).map { $0 as NSDictionary }, "\(request): \(line)")
        }
        return answers
    }

    @Test func aLedgerServedWithFlagsRebuildsAndRestartsExactlyWithoutThem() throws {
        let daemon = try Daemon(arguments: Self.flags)
        let front = try daemon.client("frontline")
        // The flags are the first events, the daemon's own.
        let replay = try daemon.client("auditor").stream("REPLAY 1")
        #expect(replay.events.count == 7, "5 settings and 2 supervisors")
        #expect(replay.events.prefix(5).allSatisfy { $0.contains(#""type":"ledger_setting""#) && $0.contains(#""agent_id":"recoveryd""#) })
        #expect(replay.events.suffix(2).allSatisfy { $0.contains(#""type":"allowance""#) && $0.contains(#""role":"supervisor""#) })

        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "K-1", agent: "A-1"))) != nil)
        let small = try #require(okObject(try front.request("APPEND " + Events.compensation(2, caseID: "K-1", amount: 3_000, agent: "A-1"))))
        #expect(small["remaining"] as? Int == 17_000 && small["warning"] as? Bool == false)
        let more = try #require(okObject(try front.request("APPEND " + Events.compensation(3, caseID: "K-1", amount: 15_000, agent: "A-1"))))
        #expect(more["remaining"] as? Int == 2_000 && more["warning"] as? Bool == true, "2,000 left is under 30% of 20,000")
        #expect(okObject(try front.request("APPEND " + Events.compensation(4, caseID: "K-1", amount: 30_000, agent: "A-1", approvedBy: "S-1"))) != nil)
        let capped = try front.request("APPEND " + Events.compensation(5, caseID: "K-1", amount: 3_000, agent: "A-1", approvedBy: "S-2"))
        #expect(capped.hasPrefix("ERR budget_exceeded customer C-1 has 20.00 USD left of the daily cap"), "\(capped)")
        let before = try Self.answers(daemon)
        #expect(before["BUDGET S-1"]?["allowance"] as? Int == 100_000)
        #expect(before["SETTINGS"]?["time_zone"] as? String == "America/New_York")
        #expect((before["SETTINGS"]?["supervisors"] as? [String]) == ["S-1", "S-2"])
        daemon.stop()

        // rebuild with no flags: every setting from the log.
        let check = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo])
        #expect(check.status == 0 && check.output.contains("the projection tables match the log"), "\(check.output)")
        let write = try Daemon.run(["rebuild", "--write", "--database", daemon.conninfo])
        #expect(write.status == 0, "\(write.output)")
        let stale = try Daemon.run(["rebuild", "--check", "--database", daemon.conninfo, "--default-allowance", "200000"])
        #expect(stale.status != 0 && stale.output.contains("--default-allowance no longer applies to rebuild"), "\(stale.output)")

        // Restarted with no flags: every answer as before.
        let again = try Daemon(conninfo: daemon.conninfo)
        #expect(try Self.answers(again) == before)
        // A-1 still has 2,000 left of 20,000: no flag can give it 200,000.
        let over = try again.client("frontline").request("APPEND " + Events.compensation(6, caseID: "K-1", amount: 2_001, agent: "A-1"))
        #expect(over.hasPrefix("ERR budget_exceeded A-1 has 20.00 USD left"), "\(over)")
        again.stop()

        // Restarted with a flag that says otherwise: refused, naming it, both values and the remedy.
        for (flag, value, recorded, remedy) in [
            ("--default-allowance", "200000", "default_allowance = 20000", "recoveryctl settings set default_allowance 200000"),
            ("--time-zone", "UTC", "time_zone = America/New_York", "is fixed when the ledger is created"),
            ("--supervisor", "S-3", "S-3 is not a supervisor", "recoveryctl allowance S-3 --role supervisor"),
        ] {
            let refused = try Daemon.run([
                "serve", "--listen", "127.0.0.1:\(try Daemon.freePort())", "--database", daemon.conninfo,
                "--token-file", daemon.folder.appending(path: "tokens").path, "--data-dir", daemon.folder.path, flag, value,
            ])
            #expect(refused.status != 0)
            #expect(refused.output.contains("\(flag) \(value) differs from the ledger's log, which says \(recorded)"), "\(refused.output)")
            #expect(refused.output.contains(remedy), "\(refused.output)")
        }
        // The same flags as the log says are no difference.
        let same = try Daemon(conninfo: daemon.conninfo, arguments: Self.flags)
        #expect(try Self.answers(same) == before)
    }

    @Test func aSettingChangedMidDayAppliesFromThatDayAndEarlierPositionsAnswerAsBefore() throws {
        let daemon = try Daemon()
        let front = try daemon.client("frontline")
        let finance = try daemon.client("finance")
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "K-1", agent: "A-1"))) != nil)
        let receipt = try #require(okObject(try front.request("APPEND " + Events.compensation(2, caseID: "K-1", amount: 50_000, agent: "A-1"))))
        let before = try #require(receipt["position"] as? Int)
        let today = BusinessDay(Timestamp(Date()), in: TimeZone(identifier: "UTC")!)
        let spending = "SPENDING from=\(today.adding(days: -1)) to=\(today.adding(days: 1)) by=person,day"
        let then = ["BUDGET A-1", "OUTCOMES", "SETTINGS", "BUDGETS", spending].map {
            (request: $0, answer: okObject((try? finance.request($0)) ?? "") ?? [:])
        }
        #expect((then[2].answer["positions"] as? [String: Any])?["default_allowance"] is NSNull, "built in")

        let set = try RecoveryCtlTests.ctl(daemon, "admin", ["settings", "set", "default_allowance", "60000"])
        #expect(set.status == 0 && set.output.contains("default_allowance = 60000 from today on"), "\(set.output)")
        let budget = try #require(okObject(try finance.request("BUDGET A-1")))
        #expect(budget["allowance"] as? Int == 60_000 && budget["spent"] as? Int == 50_000 && budget["remaining"] as? Int == 10_000)
        #expect(errorCode(try front.request("APPEND " + Events.compensation(3, caseID: "K-1", amount: 10_001, agent: "A-1"))) == "budget_exceeded")
        let settings = try #require(okObject(try finance.request("SETTINGS")))
        #expect(settings["default_allowance"] as? Int == 60_000)
        #expect((settings["positions"] as? [String: Any])?["default_allowance"] as? Int == before + 1)

        // As of the position before the change, every answer is the one given then.
        for (request, answer) in then {
            let line = try finance.request("\(request) at=\(before)")
            var past = try #require(okObject(line), "\(request): \(line)")
            #expect(past.removeValue(forKey: "at") as? Int == before)
            #expect(past.removeValue(forKey: "at_hash") as? String == receipt["hash"] as? String)
            #expect(past as NSDictionary == answer as NSDictionary, "\(request) at=\(before)")
        }

        let shown = try RecoveryCtlTests.ctl(daemon, "auditor", ["settings"])
        #expect(shown.status == 0 && shown.output.contains("default_allowance") && shown.output.contains("600.00 USD") && shown.output.contains("position \(before + 1)"), "\(shown.output)")
        #expect(shown.output.contains("warn_below_percent") && shown.output.contains("built in"), "\(shown.output)")
        let fixed = try RecoveryCtlTests.ctl(daemon, "admin", ["settings", "set", "time_zone", "Europe/Paris"])
        #expect(fixed.status != 0 && fixed.output.contains("conflict time_zone is fixed when the ledger is created"), "\(fixed.output)")
        let frontline = try RecoveryCtlTests.ctl(daemon, "frontline", ["settings", "set", "warn_below_percent", "10"])
        #expect(frontline.status != 0 && frontline.output.contains("forbidden"), "\(frontline.output)")
        let promoted = try RecoveryCtlTests.ctl(daemon, "admin", ["allowance", "S-7", "--role", "supervisor"])
        #expect(promoted.status == 0, "\(promoted.output)")
        let people = try RecoveryCtlTests.ctl(daemon, "finance", ["people"])
        #expect(people.output.contains("S-7") && people.output.contains("supervisor") && people.output.contains("10000.00 USD"), "\(people.output)")
    }

    @Test func aSecondServeOnOneDataDirectoryRefusesAtOnceAndLeavesTheFirstServing() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "recoveryd-datadir-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let tokens = folder.appending(path: "tokens")
        try "frontline \(TokenFileDigest.of("front-token")) test\n".write(to: tokens, atomically: true, encoding: .utf8)
        chmod(tokens.path, 0o600)
        let port = try Daemon.freePort()
        // The embedded PostgreSQL: the one a second process must not touch.
        let first = try Daemon.spawn(
            Daemon.binary, ["serve", "--listen", "127.0.0.1:\(port)", "--data-dir", folder.path, "--token-file", tokens.path],
            output: folder.appending(path: "first.log").path)
        defer {
            kill(first, SIGTERM)
            var status: Int32 = 0
            waitpid(first, &status, 0)
        }
        try waitFor("the first daemon", timeout: 120) { (try? LineClient(port: port)) != nil }
        let client = try LineClient(port: port)
        _ = try client.request("HELLO front-token")
        #expect(okObject(try client.request("APPEND " + Events.complaint(1, caseID: "K-1"))) != nil)

        let started = ContinuousClock.now
        let second = try Daemon.run(["serve", "--listen", "127.0.0.1:\(try Daemon.freePort())", "--data-dir", folder.path, "--token-file", tokens.path])
        let took = ContinuousClock.now - started
        #expect(second.status != 0)
        #expect(took < .seconds(1), "refused in \(took)")
        #expect(second.output.contains("data dir \(folder.path) in use by recoveryd pid \(first)"), "\(second.output)")
        // The first keeps its PostgreSQL and answers.
        #expect(okObject(try client.request("APPEND " + Events.compensation(2, caseID: "K-1", amount: 100))) != nil)
        let fresh = try LineClient(port: port)
        _ = try fresh.request("HELLO front-token")
        #expect(okObject(try fresh.request("APPEND " + Events.followUp(3, caseID: "K-1", satisfaction: 8))) != nil)
        // rebuild on the embedded cluster waits its turn too.
        let rebuild = try Daemon.run(["rebuild", "--check", "--data-dir", folder.path])
        #expect(rebuild.status != 0 && rebuild.output.contains("in use by recoveryd pid \(first)"), "\(rebuild.output)")
    }

    @Test func anEarlierVersionsLedgerIsUpgradedWithItsSettingsAsOpeningEvents() throws {
        // What an earlier version left: events decided under flags (S-1 a
        // supervisor by --supervisor alone), its settings in ledger_settings,
        // and projection rows of the older fold.
        let db = try TestPostgres.database()
        let log = try EventLog(connection: PGConnection(db))
        let at = Timestamp(Date()).microseconds - 86_400_000_000  // yesterday
        let events = [
            Event(
                eventID: EventID(Events.id(1, salt: 42))!, agentID: "A-1", caseID: "K-1",
                body: .complaint(Complaint(customerID: "C-1", channel: .phone, category: "late", severity: 3))),
            Event(
                eventID: EventID(Events.id(2, salt: 42))!, agentID: "A-1", caseID: "K-1",
                body: .compensation(Compensation(amount: 500_000, currency: "USD", kind: .refund, approvedBy: "S-1"))),
        ]
        try log.append(events.enumerated().map { EventRow(RecordedEvent(position: Int64($0.offset + 1), recordedAt: Timestamp(microseconds: at + Int64($0.offset)), event: $0.element)) })
        try PGConnection(db).execute(
            "INSERT INTO ledger_settings (currency, time_zone, follow_up_within_days, repeat_window_days) VALUES ('USD', 'Europe/Paris', 3, 30)")
        try log.releaseLock()

        let daemon = try Daemon(conninfo: db, arguments: ["--supervisor", "S-1", "--default-allowance", "30000"])
        #expect(daemon.log.contains("recorded the ledger's opening settings"), "\(daemon.log)")
        #expect(daemon.log.contains("upgrade: the settings this ledger ran with are now events in its log"))
        let admin = try daemon.client("admin")
        let settings = try #require(okObject(try admin.request("SETTINGS")))
        #expect(settings["time_zone"] as? String == "Europe/Paris" && settings["follow_up_within_days"] as? Int == 3)
        #expect(settings["default_allowance"] as? Int == 30_000 && settings["repeat_window_days"] as? Int == 30)
        #expect(((settings["positions"] as? [String: Any])?["time_zone"] as? Int ?? 0) > 2, "recorded after the old events")
        // The old day: S-1 was a supervisor then, as the opening now says.
        let day = BusinessDay(Timestamp(microseconds: at), in: TimeZone(identifier: "Europe/Paris")!)
        let budget = try #require(okObject(try admin.request("BUDGET S-1 \(day)")))
        #expect(budget["allowance"] as? Int == 1_000_000 && budget["spent"] as? Int == 500_000)
        #expect(okObject(try admin.request("CASE K-1"))?["opened_day"] as? String == day.description)
        #expect(try PGConnection(db).query("SELECT count(*) FROM ledger_settings").int64(0, 0) == 0)
        daemon.stop()
        let check = try Daemon.run(["rebuild", "--check", "--database", db])
        #expect(check.status == 0, "\(check.output)")
        // A second start changes nothing.
        let again = try Daemon(conninfo: db)
        #expect(!again.log.contains("recorded the ledger's opening settings"))
        #expect(okObject(try again.client("admin").request("SETTINGS")) as NSDictionary? == settings as NSDictionary)
    }
}
