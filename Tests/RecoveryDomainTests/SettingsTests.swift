import Foundation
import LineProtocol
import RecoveryWire
import Testing

@testable import RecoveryDomain

@Suite("Settings are events: the log is the only truth")
struct SettingsTests {
    @Test func aNewLedgersFlagsAreItsFirstEventsAndHoldFromItsFirstPosition() throws {
        let ledger = LedgerUnderTest(
            supervisors: ["S-1", "S-2"],
            settings: [.defaultAllowance: .integer(20_000), .supervisorAllowance: .integer(100_000), .timeZone: .text("America/New_York")])
        // Fixed settings first, then the others, then one allowance per supervisor; one batch.
        #expect(ledger.recorded.map(\.event.type.rawValue) == Array(repeating: "ledger_setting", count: 3) + ["allowance", "allowance"])
        #expect(Set(ledger.recorded.map(\.recordedAt)).count == 1)
        #expect(ledger.recorded.first?.event.agentID == Ledger.daemonAgentID)
        let history = ledger.state.settingsHistory
        #expect(history.changes.allSatisfy { $0.since == .opening })
        #expect(history.timeZone.identifier == "America/New_York")
        #expect(ledger.state.settings(of: "S-1") == [AllowanceSetting(since: .opening, dailyLimit: nil, role: .supervisor)])
        #expect(ledger.budget("S-1", "2026-11-22").allowance == 100_000)
        #expect(ledger.budget("A-1", "2026-11-22").allowance == 20_000)
        let (inForce, positions) = history.settings(through: 0)
        #expect(inForce.defaultAllowance == 20_000 && positions[.defaultAllowance] != nil && positions[.warnBelowPercent] == nil)
    }

    @Test func aSettingChangedMidDayAppliesFromThatDayAndNeverToAnEarlierOne() {
        var ledger = LedgerUnderTest(supervisors: ["S-1"])
        ledger.open("K-1", at: "2026-11-21T10:00:00Z")
        #expect(ledger.compensate("K-1", 150_000).isSuccess)
        #expect(ledger.compensate("K-1", 10_000, at: "2026-11-22T10:00:00Z").isSuccess)
        #expect(ledger.compensate("K-1", 20_000, approvedBy: "S-1").isSuccess)
        #expect(ledger.submit(#"{"type":"allowance","agent_id":"A-9","daily_limit":70000}"#, by: .admin).isSuccess)
        let yesterday = ledger.budget("A-7", "2026-11-21")
        // Lowered at noon: today's rows of those on a default move at once, the past never.
        #expect(ledger.set("default_allowance", "50000", at: "2026-11-22T12:00:00Z").isSuccess)
        #expect(ledger.set("supervisor_allowance", "30000").isSuccess)
        #expect(ledger.budget("A-7", "2026-11-22").allowance == 50_000)
        #expect(ledger.budget("S-1", "2026-11-22").allowance == 30_000)
        #expect(ledger.budget("A-9", "2026-11-22").allowance == 70_000, "a limit of one's own is no default")
        #expect(ledger.budget("A-7", "2026-11-21") == yesterday)
        #expect(ledger.budget("A-1", "2026-11-21").allowance == 200_000, "a day before the change keeps the default of its time")
        #expect(ledger.compensate("K-1", 40_001).rejection?.code == .budgetExceeded)
        #expect(ledger.compensate("K-1", 40_000).isSuccess)
        // A cap set today applies to today's next compensation.
        #expect(ledger.set("customer_daily_cap", "70000").isSuccess)  // 70,000 given today already
        #expect(ledger.compensate("K-1", 1, approvedBy: "S-1").rejection?.code == .budgetExceeded)
        #expect(ledger.set("customer_daily_cap", "null").isSuccess)
        #expect(ledger.state.settingsHistory.latest.customerDailyCap == nil)
    }

    @Test func theCurrencyAndTimeZoneAreFixedWhenTheLedgerIsCreated() {
        var ledger = LedgerUnderTest(seed: LedgerSeed(settings: [.currency: .text("EUR")]))
        for (name, value) in [("currency", #""EUR""#), ("currency", #""USD""#), ("time_zone", #""Europe/Paris""#)] {
            let result = ledger.set(name, value)
            #expect(result.rejection?.code == .conflict, "\(name)")
            #expect(result.rejection?.message.hasPrefix("\(name) is fixed when the ledger is created") == true)
        }
        // Even on a ledger that never set them: the built-in values are as fixed.
        var plain = LedgerUnderTest()
        #expect(plain.set("time_zone", #""Europe/Paris""#).rejection?.code == .conflict)
    }

    @Test func settingsAreForAdminsAndTheDaemonsNameIsReserved() {
        var ledger = LedgerUnderTest()
        #expect(
            ledger.submit(#"{"type":"ledger_setting","agent_id":"A-1","name":"warn_below_percent","value":10}"#).rejection?.code == .forbidden)
        let daemon = ledger.submit(#"{"type":"ledger_setting","agent_id":"recoveryd","name":"warn_below_percent","value":10}"#, by: .admin)
        #expect(daemon.rejection?.code == .invalid)
        #expect(daemon.rejection?.message == "agent_id recoveryd is reserved for the daemon's own events")
        ledger.open("K-1")
        #expect(ledger.submit(#"{"type":"apology","agent_id":"recoveryd","case_id":"K-1"}"#).rejection?.code == .invalid)
    }

    @Test(arguments: [
        (#""name":"bogus","value":1"#, "name \"bogus\" is not one of"),
        (#""name":"warn_below_percent","value":101"#, "value of warn_below_percent must be from 0 to 100, not 101"),
        (#""name":"warn_below_percent","value":"10""#, "value of warn_below_percent must be an integer"),
        (#""name":"default_allowance","value":null"#, "value of default_allowance must be an integer"),
        (#""name":"customer_daily_cap","value":-1"#, "value of customer_daily_cap must be from 0"),
        (#""name":"time_zone","value":"Mars/Olympus"}"#.dropLast(1).description, "value of time_zone must be an IANA time zone"),
        (#""name":"currency","value":"usd""#, "value of currency must be an ISO 4217 code"),
        (#""name":"repeat_window_days""#, "value is required"),
        (#""name":"repeat_window_days","value":3,"case_id":"K-1""#, "unknown field \"case_id\""),
    ])
    func aBadSettingIsInvalidAndNamesWhatItTakes(fields: String, message: String) {
        var ledger = LedgerUnderTest()
        let result = ledger.submit(#"{"type":"ledger_setting","agent_id":"ADM",\#(fields)}"#, by: .admin)
        #expect(result.rejection?.code == .invalid)
        #expect(result.rejection?.message.hasPrefix(message) == true, "\(result)")
    }

    @Test func anAllowanceWithoutALimitFollowsTheRolesDefault() {
        var ledger = LedgerUnderTest()
        #expect(ledger.submit(#"{"type":"allowance","agent_id":"S-5","role":"supervisor"}"#, by: .admin).isSuccess)
        #expect(ledger.budget("S-5", "2026-11-22").allowance == 1_000_000)
        #expect(ledger.set("supervisor_allowance", "700000").isSuccess)
        #expect(ledger.budget("S-5", "2026-11-22").allowance == 700_000)
        // Neither a limit nor a role says nothing.
        #expect(ledger.submit(#"{"type":"allowance","agent_id":"S-5"}"#, by: .admin).rejection?.code == .invalid)
    }

    @Test func aFlagThatDiffersFromTheLogIsNamedWithBothValuesAndTheCommand() {
        let ledger = LedgerUnderTest(supervisors: ["S-1"], settings: [.defaultAllowance: .integer(20_000)])
        let day = BusinessDay("2026-11-22")!
        #expect(LedgerSeed(settings: [.defaultAllowance: .integer(20_000)], supervisors: ["S-1"]).differences(from: ledger.state, on: day).isEmpty)
        #expect(LedgerSeed().differences(from: ledger.state, on: day).isEmpty, "no flag says nothing")
        let differences = LedgerSeed(
            settings: [.defaultAllowance: .integer(30_000), .timeZone: .text("Europe/Paris")], supervisors: ["S-1", "S-2"]
        ).differences(from: ledger.state, on: day)
        #expect(differences.map(\.flag) == ["--default-allowance", "--time-zone", "--supervisor"])
        #expect(
            differences[0].description
                == "--default-allowance 30000 differs from the ledger's log, which says default_allowance = 20000; the log rules: start without the flag, or change the setting with `recoveryctl settings set default_allowance 30000`"
        )
        #expect(differences[1].remedy.hasPrefix("nothing: time_zone is fixed"))
        #expect(differences[2].given == "S-2" && differences[2].remedy == "recoveryctl allowance S-2 --role supervisor")
    }

    @Test func anUpgradedLedgersOpeningHoldsFromItsFirstPosition() {
        // Events recorded by an earlier version (no settings in the log), then
        // the upgrade's opening batch: a replay seeded with the opening gives
        // the state the earlier version had, flags and all.
        var old = LedgerUnderTest()
        old.open("K-1")
        #expect(old.compensate("K-1", 500_000, approvedBy: nil).rejection?.code == .budgetExceeded)
        let opening = LedgerSeed(settings: [.defaultAllowance: .integer(600_000)], supervisors: ["S-1"]).openingEvents {
            EventID(UUID().uuidString)!
        }
        let decision = Ledger.decide(
            batch: opening.map { Submission(event: $0, contentDigest: [], authority: .daemon) }, existing: [:], state: old.state,
            at: old.clock)
        #expect(decision.records.count == 2)
        var seeded = LedgerState(opening: decision.records)
        for recorded in old.recorded + decision.records { seeded.apply(recorded) }
        #expect(seeded.settings(of: "S-1")?.first?.since == .opening)
        #expect(seeded.budget(for: "A-7", on: BusinessDay("2026-11-01")!).allowance == 600_000)
        #expect(seeded.role(of: "S-1", on: BusinessDay("2026-01-01")!) == .supervisor)
    }
}

@Suite("Who may move whose money")
struct AuthorityTests {
    static let compensationID = "00000000-0000-4000-8000-0000000000c1"

    /// A-1's case, a compensation of A-1's; S-1 a supervisor.
    static func ledger() -> LedgerUnderTest {
        var ledger = LedgerUnderTest(supervisors: ["S-1"])
        ledger.open("K-1", agent: "A-1")
        _ = ledger.compensate("K-1", 50_000, agent: "A-1", id: compensationID)
        return ledger
    }

    static func reversal(by agent: String, id: String = compensationID) -> String {
        #"{"type":"compensation_reversal","agent_id":"\#(agent)","case_id":"K-1","reverses":"\#(id)","reason":"mistake"}"#
    }

    @Test func aBoundTokenReversesOnlyWhatItRecordedOrWasChargedTo() {
        var ledger = Self.ledger()
        let other = ledger.submit(Self.reversal(by: "A-2"), as: .person("A-2"))
        #expect(other.rejection?.code == .forbidden)
        #expect(
            other.rejection?.message
                == "A-2 may reverse only compensations it recorded or that were charged to it; \(Self.compensationID) was recorded by A-1 and charged to A-1: a supervisor's token may reverse it"
        )
        #expect(ledger.budget("A-1", "2026-11-22").spent == 50_000, "nothing moved")
        #expect(ledger.submit(Self.reversal(by: "A-1"), as: .person("A-1")).isSuccess)
        // Charged to the approver: the approver may reverse it too.
        let approved = "00000000-0000-4000-8000-0000000000c2"
        #expect(ledger.compensate("K-1", 80_000, agent: "A-1", approvedBy: "S-1", id: approved).isSuccess)
        #expect(ledger.submit(Self.reversal(by: "A-1", id: approved), as: .person("A-1")).isSuccess)
    }

    @Test func aSupervisorsTokenAndAnAppTokenMayReverseAnyone() {
        var supervised = Self.ledger()
        #expect(supervised.submit(Self.reversal(by: "S-1"), as: .person("S-1")).isSuccess)
        var app = Self.ledger()
        #expect(app.submit(Self.reversal(by: "A-2")).isSuccess)
    }

    @Test(arguments: [
        #"{"type":"escalation","agent_id":"A-2","case_id":"K-1","to_agent_id":"A-2","reason":"mine now"}"#,
        #"{"type":"follow_up","agent_id":"A-2","case_id":"K-1","satisfaction":0}"#,
        #"{"type":"defection","agent_id":"A-2","case_id":"K-1"}"#,
    ])
    func aBoundTokenActsOnlyOnCasesItOwns(json: String) {
        var ledger = Self.ledger()
        let refused = ledger.submit(json, as: .person("A-2"))
        #expect(refused.rejection?.code == .forbidden)
        #expect(refused.rejection?.message.hasPrefix("case K-1 is owned by A-1; A-2 may ") == true)
        #expect(ledger.state.cases["K-1"]?.status == .open && ledger.state.cases["K-1"]?.owner == "A-1")
        // The owner may; after an escalation, the new owner may and the old one no longer.
        let owner = json.replacingOccurrences(of: "\"A-2\",\"case_id\"", with: "\"A-1\",\"case_id\"")
        var owned = Self.ledger()
        #expect(owned.submit(owner, as: .person("A-1")).isSuccess)
        var handed = Self.ledger()
        #expect(
            handed.submit(#"{"type":"escalation","agent_id":"A-1","case_id":"K-1","to_agent_id":"A-2","reason":"shift"}"#, as: .person("A-1"))
                .isSuccess)
        #expect(handed.followUp("K-1", satisfaction: 5, agent: "A-1", as: .person("A-1")).rejection?.code == .forbidden)
        #expect(handed.submit(json, as: .person("A-2")).isSuccess)
        // A supervisor's token may act on any case.
        var supervised = Self.ledger()
        #expect(supervised.followUp("K-1", satisfaction: 8, agent: "S-1", as: .person("S-1")).isSuccess)
    }

    @Test func aBoundTokenRecordsOnlyAsItsOwnPersonAndNamesNoOtherApprover() {
        var ledger = Self.ledger()
        #expect(ledger.compensate("K-1", 100, agent: "A-2", as: .person("A-1")).rejection?.code == .forbidden)
        #expect(ledger.compensate("K-1", 100, agent: "A-1", approvedBy: "S-1", as: .person("A-1")).rejection?.code == .forbidden)
        // The supervisor approves by recording it with their own token.
        #expect(ledger.compensate("K-1", 300_000, agent: "S-1", approvedBy: "S-1", as: .person("S-1")).isSuccess)
    }
}

@Suite("A supervisor may approve a compensation over a customer's daily cap")
struct CapOverrideTests {
    @Test func anOverrideLiftsTheCustomersCapButNeverTheSupervisorsAllowance() {
        var ledger = LedgerUnderTest(supervisors: ["S-1"], settings: [.customerDailyCap: .integer(30_000)])
        ledger.open("K-1")
        #expect(ledger.compensate("K-1", 30_000).isSuccess)
        let over = ledger.compensate("K-1", 40_000, approvedBy: "S-1")
        #expect(over.rejection?.code == .budgetExceeded && over.rejection?.message.contains("override_reason") == true)
        #expect(ledger.compensate("K-1", 40_000, approvedBy: "S-1", overrideReason: "severity 5, wedding ruined").isSuccess)
        #expect(ledger.compensate("K-1", 60_000, approvedBy: "S-1", overrideReason: "and more").isSuccess)
        #expect(ledger.state.customerDays[CustomerDayKey(customerID: "C-1", day: BusinessDay("2026-11-22")!)] == 130_000)
        #expect(ledger.state.cases["K-1"]?.compensations.values.filter(\.isOverride).count == 2)
        // Never past the supervisor's own allowance.
        let beyond = ledger.compensate("K-1", 900_001, approvedBy: "S-1", overrideReason: "everything")
        #expect(beyond.rejection?.code == .budgetExceeded && beyond.rejection?.message.hasPrefix("S-1 has") == true)
        // Only with a supervisor's approval.
        #expect(ledger.compensate("K-1", 1_000, approvedBy: "A-8", overrideReason: "x").rejection?.code == .forbidden)
        let alone = ledger.submit(
            #"{"type":"compensation","agent_id":"A-7","case_id":"K-1","amount":100,"currency":"USD","kind":"gift","override_reason":"x"}"#)
        #expect(alone.rejection?.code == .invalid)
        #expect(alone.rejection?.message.hasPrefix("override_reason goes with approved_by") == true)
    }
}

@Suite("Figures that do not flatter")
struct HonestFigureTests {
    @Test func npsKeepsTheLastAnswerGivenAndADefectionIsADetractor() {
        var ledger = LedgerUnderTest()
        ledger.open("N-1")
        #expect(ledger.followUp("N-1", satisfaction: 4, wouldRecommend: 4).isSuccess)
        // Asked again, without the question: the answer 4 stands.
        #expect(ledger.followUp("N-1", satisfaction: 6).isSuccess)
        #expect(ledger.state.cases["N-1"]?.wouldRecommend == 4)
        ledger.open("N-2")
        #expect(ledger.followUp("N-2", satisfaction: 9, resolved: false, wouldRecommend: 9).isSuccess)
        #expect(ledger.submit(#"{"type":"defection","agent_id":"A-7","case_id":"N-2"}"#).isSuccess)
        ledger.open("N-3")
        #expect(ledger.submit(#"{"type":"defection","agent_id":"A-7","case_id":"N-3"}"#).isSuccess)
        ledger.open("N-4")
        #expect(ledger.followUp("N-4", satisfaction: 9, wouldRecommend: 10).isSuccess)
        let report = OutcomeReport(cases: ledger.state.cases.values, by: .agent, now: ledger.clock)
        // N-1 4 (detractor), N-2 and N-3 defected (detractors), N-4 promoter.
        #expect(report.total.promoters == 1 && report.total.passives == 0 && report.total.detractors == 3)
        #expect(report.total.nps.decimal(digits: 2) == "-50.00")
        var single = LedgerUnderTest()
        single.open("X-1")
        _ = single.followUp("X-1", satisfaction: 3, wouldRecommend: 2)
        _ = single.followUp("X-1", satisfaction: 3)
        #expect(OutcomeReport(cases: single.state.cases.values, by: .agent, now: single.clock).groups[0].summary.nps.decimal(digits: 2) == "-100.00")
    }

    @Test func theOnTimeRateCountsCasesPastTheirDeadlineWithNoFollowUp() {
        var ledger = LedgerUnderTest(seed: LedgerSeed(settings: [.followUpWithinDays: .integer(1)]), at: "2026-11-20T09:00:00Z")
        ledger.open("F-1", at: "2026-11-20T09:00:00Z")  // due the end of the 21st
        #expect(ledger.followUp("F-1", satisfaction: 8, at: "2026-11-21T10:00:00Z").isSuccess)  // on time
        ledger.open("F-2", at: "2026-11-20T10:00:00Z")  // due the end of the 21st; never followed up
        ledger.open("F-3", at: "2026-11-22T10:00:00Z")  // due the end of the 23rd: not yet late
        let now = Timestamp(rfc3339: "2026-11-22T12:00:00Z")!
        let summary = OutcomeReport(cases: ledger.state.cases.values, now: now).total
        #expect(summary.followedUp == 1 && summary.followedUpOnTime == 1 && summary.followUpsOverdue == 1)
        #expect(summary.followUpOnTimeRate.decimal(digits: 4) == "0.5000")
        // As of an earlier moment, nothing was late yet.
        #expect(OutcomeReport(cases: ledger.state.cases.values, now: Timestamp(rfc3339: "2026-11-21T12:00:00Z")!).total.followUpsOverdue == 0)
    }

    @Test func compensationPerParadoxCountsOnlyClosedCases() {
        var ledger = LedgerUnderTest()
        ledger.open("P-1", baseline: 5)
        _ = ledger.compensate("P-1", 3_000)
        _ = ledger.followUp("P-1", satisfaction: 9)
        ledger.open("O-1", baseline: 5)
        _ = ledger.compensate("O-1", 100_000)  // still open: not what the paradox cost
        let total = OutcomeReport(cases: ledger.state.cases.values, now: ledger.clock).total
        #expect(total.compensationTotal == 103_000 && total.compensationClosed == 3_000)
        #expect(total.compensationPerParadox == Ratio(3_000, 1))
    }
}
