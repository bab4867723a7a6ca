import Foundation
import Testing

@testable import RecoveryDomain

@Suite("Case lifecycle")
struct CaseLifecycleTests {
    @Test func aComplaintOpensACaseOnce() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        let again = ledger.submit(
            #"{"type":"complaint","agent_id":"A-8","case_id":"K-1","customer_id":"C-2","channel":"email","category":"x","severity":1}"#)
        #expect(again.rejection?.code == .conflict)
        #expect(again.rejection?.message.contains("K-1 was opened already") == true)
        #expect(ledger.state.cases["K-1"]?.customerID == "C-1")
        #expect(ledger.state.cases["K-1"]?.outcome == .open)
        #expect(ledger.state.lastPosition == 1)
    }

    @Test(arguments: [
        #"{"type":"apology","agent_id":"A-7","case_id":"NOPE"}"#,
        #"{"type":"compensation","agent_id":"A-7","case_id":"NOPE","amount":100,"currency":"USD","kind":"gift"}"#,
        #"{"type":"escalation","agent_id":"A-7","case_id":"NOPE","to_agent_id":"S-1","reason":"r"}"#,
        #"{"type":"follow_up","agent_id":"A-7","case_id":"NOPE","satisfaction":5}"#,
        #"{"type":"defection","agent_id":"A-7","case_id":"NOPE"}"#,
        #"{"type":"compensation_reversal","agent_id":"A-7","case_id":"NOPE","reverses":"00000000-0000-4000-8000-000000000001","reason":"r"}"#,
    ])
    func stepsOnAnUnknownCaseAreNotFound(json: String) {
        var ledger = LedgerUnderTest()
        #expect(ledger.submit(json).rejection?.code == .notFound)
        #expect(ledger.recorded.isEmpty)
    }

    @Test(arguments: [
        #"{"type":"apology","agent_id":"A-7","case_id":"K-1"}"#,
        #"{"type":"compensation","agent_id":"A-7","case_id":"K-1","amount":100,"currency":"USD","kind":"gift"}"#,
        #"{"type":"escalation","agent_id":"A-7","case_id":"K-1","to_agent_id":"S-1","reason":"r"}"#,
    ])
    func stepsThatNeedAnOpenCaseAreRefusedOnAClosedOne(json: String) {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.followUp("K-1", satisfaction: 8).isSuccess)
        #expect(ledger.submit(json).rejection?.code == .caseClosed)
        var defected = LedgerUnderTest()
        defected.open("K-1")
        #expect(defected.submit(#"{"type":"defection","agent_id":"A-7","case_id":"K-1"}"#).isSuccess)
        #expect(defected.submit(json).rejection?.code == .caseClosed)
    }

    @Test func aResolvedFollowUpClosesAndFixesTheOutcome() {
        for (baseline, satisfaction, outcome) in [(6, 9, Outcome.paradox), (6, 6, .restored), (6, 2, .unrecovered)] {
            var ledger = LedgerUnderTest()
            ledger.open("K-1", baseline: baseline)
            #expect(ledger.followUp("K-1", satisfaction: satisfaction).isSuccess)
            #expect(ledger.state.cases["K-1"]?.status == .closed)
            #expect(ledger.state.cases["K-1"]?.outcome == outcome)
            #expect(ledger.state.cases["K-1"]?.uplift == satisfaction - baseline)
        }
        var unmeasured = LedgerUnderTest()
        unmeasured.open("K-2", baseline: nil)
        #expect(unmeasured.followUp("K-2", satisfaction: 10).isSuccess)
        #expect(unmeasured.state.cases["K-2"]?.outcome == .unmeasured)
        #expect(unmeasured.state.cases["K-2"]?.uplift == nil)
    }

    @Test func anUnresolvedFollowUpMeasuresButLeavesTheCaseOpen() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.followUp("K-1", satisfaction: 3, resolved: false).isSuccess)
        #expect(ledger.state.cases["K-1"]?.status == .open)
        #expect(ledger.state.cases["K-1"]?.outcome == .open)
        #expect(ledger.state.cases["K-1"]?.satisfaction == 3)
        #expect(ledger.state.cases["K-1"]?.steps.contains(.followedUp) == true)
        #expect(ledger.state.cases["K-1"]?.steps.contains(.met) == false)
    }

    @Test func aLaterFollowUpReMeasuresAClosedCase() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1", baseline: 6)
        #expect(ledger.followUp("K-1", satisfaction: 5, at: "2026-11-22T10:00:00Z").isSuccess)
        #expect(ledger.state.cases["K-1"]?.outcome == .unrecovered)
        #expect(ledger.followUp("K-1", satisfaction: 9, at: "2026-11-29T10:00:00Z").isSuccess)
        #expect(ledger.state.cases["K-1"]?.outcome == .paradox)
        // The resolution time stays the first resolution's.
        #expect(ledger.state.cases["K-1"]?.secondsToResolution == "3600.000")
    }

    @Test func defectionIsFinalAndWinsOverEverything() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1", baseline: 2)
        #expect(ledger.followUp("K-1", satisfaction: 9).isSuccess)
        #expect(ledger.state.cases["K-1"]?.outcome == .paradox)
        #expect(ledger.submit(#"{"type":"defection","agent_id":"A-7","case_id":"K-1","reason":"left anyway"}"#).isSuccess)
        #expect(ledger.state.cases["K-1"]?.outcome == .defected)
        #expect(ledger.followUp("K-1", satisfaction: 10).rejection?.code == .caseClosed)
        #expect(ledger.submit(#"{"type":"defection","agent_id":"A-7","case_id":"K-1"}"#).rejection?.code == .caseClosed)
        #expect(ledger.state.cases["K-1"]?.outcome == .defected)
    }

    @Test func anEscalationHandsTheCaseOver() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.submit(#"{"type":"escalation","agent_id":"A-7","case_id":"K-1","to_agent_id":"S-1","reason":"wants a manager"}"#).isSuccess)
        #expect(ledger.state.cases["K-1"]?.owner == "S-1")
    }

    @Test func mamaStepsAndTimesAreKept() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1", at: "2026-11-22T09:00:00Z")
        #expect(ledger.state.cases["K-1"]?.steps == [.listened])
        #expect(ledger.submit(#"{"type":"apology","agent_id":"A-7","case_id":"K-1","occurred_at":"2026-11-22T09:05:00Z"}"#, at: "2026-11-22T09:30:00Z").isSuccess)
        #expect(ledger.submit(#"{"type":"apology","agent_id":"A-7","case_id":"K-1"}"#, at: "2026-11-22T09:40:00Z").isSuccess)
        #expect(ledger.compensate("K-1", 5_000).isSuccess)
        #expect(ledger.followUp("K-1", satisfaction: 8, at: "2026-11-22T11:00:00Z").isSuccess)
        let state = ledger.state.cases["K-1"]!
        #expect(state.steps.isComplete)
        #expect(state.steps.names == ["listened", "acknowledged", "met", "followed_up"])
        #expect(state.secondsToApology == "300.000")  // by occurred_at, the first apology's
        #expect(state.secondsToResolution == "7200.000")
        #expect(state.compensationNet == 5_000)
    }

    @Test func onlyFrontlineAndAdminMayRecordEvents() {
        for role in [ClientRole.auditor, .finance] {
            var ledger = LedgerUnderTest()
            let result = ledger.submit(
                #"{"type":"complaint","agent_id":"A-7","case_id":"K-1","customer_id":"C-1","channel":"phone","category":"x","severity":1}"#,
                by: role)
            #expect(result.rejection?.code == .forbidden)
        }
    }
}

@Suite("Empowerment budgets")
struct BudgetTests {
    @Test func aCompensationWithinTheAllowanceIsCharged() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.compensate("K-1", 150_000).isSuccess)
        let budget = ledger.budget("A-7", "2026-11-22")
        #expect(budget.allowance == 200_000)
        #expect(budget.spent == 150_000)
        #expect(budget.remaining == 50_000)
        #expect(budget.compensations == 1)
    }

    @Test func compensationOverAllowanceIsRefusedWithWhatIsLeft() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.compensate("K-1", 150_000).isSuccess)
        let refused = ledger.compensate("K-1", 50_001)
        #expect(refused.rejection?.code == .budgetExceeded)
        #expect(refused.rejection?.message == "A-7 has 500.00 USD left on 2026-11-22, 500.01 USD asked; ask a supervisor to approve")
        #expect(ledger.budget("A-7", "2026-11-22").spent == 150_000)
        #expect(ledger.compensate("K-1", 50_000).isSuccess)
        #expect(ledger.budget("A-7", "2026-11-22").remaining == 0)
    }

    @Test func twoCompensationsRacingForTheLastOfAnAllowanceOnlyOneFits() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.compensate("K-1", 190_000).isSuccess)
        // Decided in sequence, as the writer does: the second sees the first.
        let first = ledger.compensate("K-1", 10_000)
        let second = ledger.compensate("K-1", 10_000)
        #expect(first.isSuccess)
        #expect(second.rejection?.code == .budgetExceeded)
        #expect(ledger.budget("A-7", "2026-11-22").spent == 200_000)
    }

    @Test func aSupervisorApprovesFromTheirOwnAllowance() {
        var ledger = LedgerUnderTest(supervisors: ["S-1"])
        ledger.open("K-1")
        #expect(ledger.compensate("K-1", 300_000, approvedBy: "S-1").isSuccess)
        #expect(ledger.budget("S-1", "2026-11-22").spent == 300_000)
        #expect(ledger.budget("S-1", "2026-11-22").allowance == 1_000_000)
        #expect(ledger.budget("A-7", "2026-11-22").spent == 0)
        let tooMuch = ledger.compensate("K-1", 700_001, approvedBy: "S-1")
        #expect(tooMuch.rejection?.code == .budgetExceeded)
        #expect(tooMuch.rejection?.message.hasPrefix("S-1 has 7000.00 USD left") == true)
        #expect(tooMuch.rejection?.message.contains("ask a supervisor") == false)
    }

    @Test func anApproverWhoIsNoSupervisorIsForbidden() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        let result = ledger.compensate("K-1", 300_000, approvedBy: "A-8")
        #expect(result.rejection?.code == .forbidden)
        #expect(result.rejection?.message == "approved_by A-8 is not a supervisor")
    }

    @Test func allowancesAreForAdminsAndApplyFromTodayOn() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1", at: "2026-11-21T12:00:00Z")
        #expect(ledger.compensate("K-1", 100_000).isSuccess)
        let byFrontline = ledger.submit(#"{"type":"allowance","agent_id":"S-9","daily_limit":5000000,"role":"supervisor"}"#)
        #expect(byFrontline.rejection?.code == .forbidden)
        #expect(ledger.submit(#"{"type":"allowance","agent_id":"A-7","daily_limit":120000}"#, by: .admin, at: "2026-11-22T08:00:00Z").isSuccess)
        #expect(ledger.budget("A-7", "2026-11-21").allowance == 200_000)  // the past keeps its allowance
        #expect(ledger.budget("A-7", "2026-11-22").allowance == 120_000)
        #expect(ledger.budget("A-7", "2026-12-25").allowance == 120_000)
        #expect(ledger.compensate("K-1", 120_001).rejection?.code == .budgetExceeded)
        #expect(ledger.compensate("K-1", 120_000).isSuccess)
        // Promotion: a supervisor from today, who may now approve.
        #expect(ledger.submit(#"{"type":"allowance","agent_id":"S-9","daily_limit":5000000,"role":"supervisor"}"#, by: .admin).isSuccess)
        #expect(ledger.compensate("K-1", 4_000_000, approvedBy: "S-9").isSuccess)
    }

    @Test func anAllowanceChangeMidDayUpdatesTodaysRow() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.compensate("K-1", 150_000).isSuccess)
        #expect(ledger.submit(#"{"type":"allowance","agent_id":"A-7","daily_limit":100000}"#, by: .admin).isSuccess)
        // Lowered below what was spent: nothing more today, nothing taken back.
        #expect(ledger.budget("A-7", "2026-11-22").allowance == 100_000)
        #expect(ledger.budget("A-7", "2026-11-22").spent == 150_000)
        #expect(ledger.budget("A-7", "2026-11-22").remaining == 0)
        #expect(ledger.compensate("K-1", 1).rejection?.code == .budgetExceeded)
        // An allowance keeps the role it had when none is given.
        var supervisors = LedgerUnderTest(supervisors: ["S-1"])
        #expect(supervisors.submit(#"{"type":"allowance","agent_id":"S-1","daily_limit":10}"#, by: .admin).isSuccess)
        #expect(supervisors.state.role(of: "S-1", on: BusinessDay("2026-11-22")!) == .supervisor)
    }

    @Test func theBusinessDayRollsOverAtLocalMidnightAcrossDaylightSaving() {
        let newYork = LedgerSeed(settings: [.timeZone: .text("America/New_York")])
        for (lastSecond, midnight, before, after) in [
            ("2026-03-09T03:59:59Z", "2026-03-09T04:00:00Z", "2026-03-08", "2026-03-09"),  // first day of EDT
            ("2026-11-02T04:59:59Z", "2026-11-02T05:00:00Z", "2026-11-01", "2026-11-02"),  // first day of EST
        ] {
            var ledger = LedgerUnderTest(seed: newYork)
            ledger.open("K-1", at: lastSecond)
            #expect(ledger.compensate("K-1", 200_000, at: lastSecond).isSuccess)
            #expect(ledger.compensate("K-1", 1, at: lastSecond).rejection?.code == .budgetExceeded)
            #expect(ledger.compensate("K-1", 200_000, at: midnight).isSuccess)
            #expect(ledger.budget("A-7", before).spent == 200_000)
            #expect(ledger.budget("A-7", after).spent == 200_000)
        }
    }

    @Test func backdatingOccurredAtDoesNotMoveTheCharge() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        let result = ledger.submit(
            #"{"type":"compensation","agent_id":"A-7","case_id":"K-1","amount":100,"currency":"USD","kind":"gift","occurred_at":"2026-11-01T10:00:00Z"}"#)
        #expect(result.isSuccess)
        #expect(ledger.budget("A-7", "2026-11-22").spent == 100)
        #expect(ledger.budget("A-7", "2026-11-01").spent == 0)
    }

    @Test func aLateReversalIsANegativeEntryOfItsOwnDayAndLeavesTheClosedDayAlone() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        let id = "00000000-0000-4000-8000-0000000000aa"
        #expect(ledger.compensate("K-1", 200_000, id: id, at: "2026-11-22T20:00:00Z").isSuccess)
        let closed = ledger.budget("A-7", "2026-11-22")
        #expect(ledger.compensate("K-1", 50_000, at: "2026-11-23T09:00:00Z").isSuccess)
        let reversal = #"{"type":"compensation_reversal","agent_id":"A-7","case_id":"K-1","reverses":"\#(id)","reason":"charged twice"}"#
        #expect(ledger.submit(reversal, at: "2026-11-23T10:00:00Z").isSuccess)
        // Yesterday is over: its figures stand as they were.
        #expect(ledger.budget("A-7", "2026-11-22") == closed)
        #expect(closed.spent == 200_000 && closed.reversals == 0)
        // Today carries the reversing entry, and gives no room back for it.
        let today = ledger.budget("A-7", "2026-11-23")
        #expect(today.spent == 50_000 && today.reversals == 0)
        #expect(today.lateReversals == 1 && today.lateReversed == 200_000)
        #expect(today.remaining == 150_000)
        #expect(ledger.state.cases["K-1"]?.compensationNet == 50_000)
        let entry = ledger.state.cases["K-1"]?.compensations[EventID(id)!]
        #expect(entry?.reversedDay == BusinessDay("2026-11-23") && entry?.day == BusinessDay("2026-11-22"))
        // At most once.
        let twice = ledger.submit(reversal)
        #expect(twice.rejection?.code == .conflict)
        #expect(twice.rejection?.message.contains("reversed already") == true)
    }

    @Test func aReversalMustNameACompensationOfItsOwnCase() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        ledger.open("K-2")
        let id = "00000000-0000-4000-8000-0000000000bb"
        #expect(ledger.compensate("K-1", 100, id: id).isSuccess)
        let elsewhere = ledger.submit(#"{"type":"compensation_reversal","agent_id":"A-7","case_id":"K-2","reverses":"\#(id)","reason":"r"}"#)
        #expect(elsewhere.rejection?.code == .notFound)
        let apologyID = ledger.recorded[0].event.eventID.text
        let notACompensation = ledger.submit(#"{"type":"compensation_reversal","agent_id":"A-7","case_id":"K-1","reverses":"\#(apologyID)","reason":"r"}"#)
        #expect(notACompensation.rejection?.code == .notFound)
        // A closed case's compensation can still be reversed.
        #expect(ledger.followUp("K-1", satisfaction: 7).isSuccess)
        #expect(ledger.submit(#"{"type":"compensation_reversal","agent_id":"A-7","case_id":"K-1","reverses":"\#(id)","reason":"r"}"#).isSuccess)
    }

    @Test func approvedChargesAreCreditedBackToTheApprover() {
        var ledger = LedgerUnderTest(supervisors: ["S-1"])
        ledger.open("K-1")
        let id = "00000000-0000-4000-8000-0000000000cc"
        #expect(ledger.compensate("K-1", 400_000, approvedBy: "S-1", id: id).isSuccess)
        #expect(ledger.submit(#"{"type":"compensation_reversal","agent_id":"A-7","case_id":"K-1","reverses":"\#(id)","reason":"r"}"#).isSuccess)
        #expect(ledger.budget("S-1", "2026-11-22").spent == 0)
        #expect(ledger.budget("A-7", "2026-11-22").reversals == 0)
    }
}

@Suite("Reports and working-set memory")
struct ReportTests {
    @Test func outcomesAggregateWithParadoxRateAndGroups() {
        var ledger = LedgerUnderTest()
        ledger.open("P-1", agent: "A-1", baseline: 5, at: "2026-11-20T10:00:00Z")
        _ = ledger.compensate("P-1", 3_000, agent: "A-1")
        _ = ledger.followUp("P-1", satisfaction: 9)
        ledger.open("R-1", agent: "A-1", baseline: 5, at: "2026-11-20T11:00:00Z")
        _ = ledger.followUp("R-1", satisfaction: 5)
        ledger.open("U-1", agent: "A-2", baseline: 8, at: "2026-11-21T10:00:00Z")
        _ = ledger.compensate("U-1", 1_000, agent: "A-2")
        _ = ledger.followUp("U-1", satisfaction: 4)
        ledger.open("D-1", agent: "A-2", baseline: 5, at: "2026-11-21T11:00:00Z")
        _ = ledger.submit(#"{"type":"defection","agent_id":"A-2","case_id":"D-1"}"#)
        ledger.open("O-1", agent: "A-2", at: "2026-11-22T10:00:00Z")
        ledger.open("M-1", agent: "A-3", baseline: nil, at: "2026-11-22T11:00:00Z")
        _ = ledger.followUp("M-1", satisfaction: 7)

        let report = OutcomeReport(cases: ledger.state.cases.values, by: .agent, now: ledger.clock)
        #expect(report.total.cases == 6)
        #expect(Outcome.allCases.map { report.total.count($0) } == [1, 1, 1, 1, 1, 1])
        #expect(report.total.paradoxRate == Ratio(1, 4))
        #expect(report.total.paradoxRate.decimal(digits: 4) == "0.2500")
        // Uplifts: +4, 0, -4, and D-1 has no follow-up: mean 0.
        #expect(report.total.meanUplift == Ratio(0, 3))
        #expect(report.total.compensationTotal == 4_000)
        #expect(report.total.compensationPerParadox == Ratio(4_000, 1))
        #expect(report.groups.map(\.key) == ["A-1", "A-2", "A-3"])
        #expect(report.groups[0].summary.paradoxRate == Ratio(1, 2))
        #expect(report.groups[1].summary.paradoxRate == Ratio(0, 2))
        #expect(report.groups[2].summary.paradoxRate.decimal(digits: 2) == nil)

        let ranged = OutcomeReport(cases: ledger.state.cases.values, by: .day, from: BusinessDay("2026-11-21"), to: BusinessDay("2026-11-21"), now: ledger.clock)
        #expect(ranged.total.cases == 2)
        #expect(ranged.groups.map(\.key) == ["2026-11-21"])
        let bySeverity = OutcomeReport(cases: ledger.state.cases.values, by: .severity, now: ledger.clock)
        #expect(bySeverity.groups.map(\.key) == ["3"])
    }

    @Test func timesToApologyAndResolutionAreExactAndNeverNegative() {
        var ledger = LedgerUnderTest()
        ledger.submit(
            #"{"type":"complaint","agent_id":"A-7","case_id":"T-1","customer_id":"C-1","channel":"phone","category":"late","severity":3,"baseline":5,"occurred_at":"2026-11-22T08:59:59.900Z"}"#,
            at: "2026-11-22T09:00:00Z")
        // 0.2 s later, across a second boundary: 0.200, not 1.
        #expect(ledger.submit(#"{"type":"apology","agent_id":"A-7","case_id":"T-1","occurred_at":"2026-11-22T09:00:00.100Z"}"#).isSuccess)
        #expect(ledger.state.cases["T-1"]?.secondsToApology == "0.200")
        // Before the complaint: refused, for an apology and a follow-up alike.
        let early = ledger.submit(#"{"type":"apology","agent_id":"A-7","case_id":"T-1","occurred_at":"2026-11-22T08:00:00Z"}"#)
        #expect(early.rejection?.code == .invalid)
        #expect(early.rejection?.message.contains("is before the complaint of case T-1") == true)
        #expect(ledger.submit(#"{"type":"follow_up","agent_id":"A-7","case_id":"T-1","satisfaction":8,"occurred_at":"2026-11-21T10:00:00Z"}"#).rejection?.code == .invalid)
        #expect(ledger.submit(#"{"type":"follow_up","agent_id":"A-7","case_id":"T-1","satisfaction":8,"resolved":true,"occurred_at":"2026-11-22T09:00:01.4005Z"}"#).isSuccess)
        #expect(ledger.state.cases["T-1"]?.secondsToResolution == "1.501")

        // A complaint dated ahead (clock skew), then an apology without a date
        // recorded before that time: accepted, and the time to it is zero.
        ledger.submit(
            #"{"type":"complaint","agent_id":"A-7","case_id":"T-2","customer_id":"C-1","channel":"phone","category":"late","severity":3,"occurred_at":"2026-11-22T10:00:05Z"}"#,
            at: "2026-11-22T10:00:00Z")
        #expect(ledger.submit(#"{"type":"apology","agent_id":"A-7","case_id":"T-2"}"#, at: "2026-11-22T10:00:01Z").isSuccess)
        #expect(ledger.state.cases["T-2"]?.secondsToApology == "0.000")
    }

    @Test func theFollowUpIsDueAtTheEndOfTheDayNDaysOnAcrossDaylightSavingChanges() {
        var ledger = LedgerUnderTest(seed: LedgerSeed(settings: [.timeZone: .text("America/New_York"), .followUpWithinDays: .integer(2)]))
        // Recorded Friday 2026-03-06 (EST); due the end of Sunday 2026-03-08,
        // the 23-hour day clocks go forward: midnight after it is 04:00 UTC.
        ledger.open("D-1", at: "2026-03-06T15:00:00Z")
        #expect(ledger.state.cases["D-1"]?.followUpDue?.description == "2026-03-09T03:59:59.999999Z")
        // The first compensation (Saturday) restarts the clock; a second does not.
        #expect(ledger.compensate("D-1", 1_000, at: "2026-03-07T15:00:00Z").isSuccess)
        #expect(ledger.state.cases["D-1"]?.followUpDue?.description == "2026-03-10T03:59:59.999999Z")
        #expect(ledger.compensate("D-1", 1_000, at: "2026-03-08T15:00:00Z").isSuccess)
        #expect(ledger.state.cases["D-1"]?.followUpDue?.description == "2026-03-10T03:59:59.999999Z")
        #expect(ledger.state.cases["D-1"]?.followUpLate == nil)
        // Recorded at 23:30 local on the due day: on time. Later follow-ups change nothing.
        #expect(ledger.followUp("D-1", satisfaction: 6, resolved: false, at: "2026-03-10T03:30:00Z").isSuccess)
        #expect(ledger.state.cases["D-1"]?.followUpLate == false)
        #expect(ledger.followUp("D-1", satisfaction: 8, at: "2026-03-20T03:30:00Z").isSuccess)
        #expect(ledger.state.cases["D-1"]?.followUpLate == false)

        // Clocks go back on Sunday 2026-11-01 (a 25-hour day): midnight after it is 05:00 UTC.
        ledger.open("D-2", at: "2026-10-30T15:00:00Z")
        #expect(ledger.state.cases["D-2"]?.followUpDue?.description == "2026-11-02T04:59:59.999999Z")
        #expect(ledger.followUp("D-2", satisfaction: 6, at: "2026-11-02T05:00:00Z").isSuccess)
        #expect(ledger.state.cases["D-2"]?.followUpLate == true)

        let report = OutcomeReport(cases: ledger.state.cases.values, now: ledger.clock).total
        #expect(report.followUpOnTimeRate == Ratio(1, 2))
    }

    @Test func aComplaintFromACustomerWithACaseInTheWindowIsARepeat() {
        var ledger = LedgerUnderTest(seed: LedgerSeed(settings: [.repeatWindowDays: .integer(30)]), at: "2026-01-01T09:00:00Z")
        func complain(_ caseID: String, _ customer: String, at time: String) -> CaseState? {
            let result = ledger.submit(
                #"{"type":"complaint","agent_id":"A-7","case_id":"\#(caseID)","customer_id":"\#(customer)","channel":"phone","category":"late","severity":3,"baseline":5}"#,
                at: time)
            #expect(result.isSuccess, "\(result)")
            return ledger.state.cases[caseID]
        }
        #expect(complain("X-1", "CU-X", at: "2026-01-01T10:00:00Z")?.priorCases == 0)
        #expect(complain("X-2", "CU-X", at: "2026-01-20T10:00:00Z")?.priorCases == 1)
        // 30 days before 2026-02-25 is 2026-01-26: neither earlier case counts.
        #expect(complain("X-3", "CU-X", at: "2026-02-25T10:00:00Z")?.isRepeat == false)
        // The window's first day counts: 2026-03-27 is 30 days after 2026-02-25.
        #expect(complain("X-4", "CU-X", at: "2026-03-27T10:00:00Z")?.priorCases == 1)
        #expect(complain("X-5", "CU-X", at: "2026-03-27T11:00:00Z")?.priorCases == 2, "the same day counts")
        #expect(complain("Y-1", "CU-Y", at: "2026-03-27T12:00:00Z")?.isRepeat == false)

        _ = ledger.followUp("X-1", satisfaction: 9)
        _ = ledger.followUp("X-2", satisfaction: 9)
        let report = OutcomeReport(cases: ledger.state.cases.values, by: .repeat, now: ledger.clock)
        #expect(report.groups.map(\.key) == ["first", "repeat"])
        #expect(report.groups.map(\.summary.cases) == [3, 3])
        #expect(report.groups[0].summary.count(.paradox) == 1 && report.groups[1].summary.count(.paradox) == 1)
    }

    @Test func aCustomersDailyCapHoldsAcrossAgentsAndReversalsGiveRoomBack() {
        var ledger = LedgerUnderTest(seed: LedgerSeed(settings: [.customerDailyCap: .integer(10_000)]))
        ledger.open("CAP-1", agent: "A-1", at: "2026-11-22T09:00:00Z")
        ledger.open("CAP-2", agent: "A-2")  // the same customer, C-1, another agent and case
        #expect(ledger.compensate("CAP-1", 6_000, agent: "A-1", id: "00000000-0000-4000-8000-00000000ca01").isSuccess)
        let over = ledger.compensate("CAP-2", 5_000, agent: "A-2")
        #expect(over.rejection?.code == .budgetExceeded)
        #expect(
            over.rejection?.message
                == "customer C-1 has 40.00 USD left of the daily cap on 2026-11-22, 50.00 USD asked; a supervisor may approve it over the cap (approved_by and override_reason)"
        )
        #expect(ledger.compensate("CAP-2", 4_000, agent: "A-2").isSuccess, "exactly the cap")
        #expect(ledger.state.customerDays[CustomerDayKey(customerID: "C-1", day: BusinessDay("2026-11-22")!)] == 10_000)
        // A reversal gives the customer's room back; the next day starts afresh.
        #expect(ledger.submit(#"{"type":"compensation_reversal","agent_id":"A-1","case_id":"CAP-1","reverses":"00000000-0000-4000-8000-00000000ca01","reason":"duplicate"}"#).isSuccess)
        #expect(ledger.compensate("CAP-2", 6_000, agent: "A-2").isSuccess)
        #expect(ledger.compensate("CAP-2", 10_000, agent: "A-2", at: "2026-11-23T09:00:00Z").isSuccess)
    }

    @Test func meanUpliftCountsOnlyResolvedOutcomes() {
        var ledger = LedgerUnderTest()
        ledger.open("R-1", baseline: 5)
        _ = ledger.followUp("R-1", satisfaction: 9)  // resolved: paradox, +4
        ledger.open("O-1", baseline: 5)
        _ = ledger.followUp("O-1", satisfaction: 1, resolved: false)  // still open: -4 is not an outcome
        ledger.open("D-1", baseline: 5)
        _ = ledger.followUp("D-1", satisfaction: 2, resolved: false)
        _ = ledger.submit(#"{"type":"defection","agent_id":"A-7","case_id":"D-1"}"#)  // defected: not counted either
        let total = OutcomeReport(cases: ledger.state.cases.values, now: ledger.clock).total
        #expect(total.meanUplift == Ratio(4, 1))
    }

    @Test func npsCountsTheLatestWouldRecommendOfEachCase() {
        var ledger = LedgerUnderTest()
        for (n, answers) in [[3, 10], [9], [8], [2], []].enumerated() {
            ledger.open("N-\(n)")
            for answer in answers {
                _ = ledger.submit(#"{"type":"follow_up","agent_id":"A-7","case_id":"N-\#(n)","satisfaction":7,"would_recommend":\#(answer)}"#)
            }
        }
        let total = OutcomeReport(cases: ledger.state.cases.values, now: ledger.clock).total
        // Latest answers: 10, 9, 8, 2 (the fifth case never answered).
        #expect(total.promoters == 2 && total.passives == 1 && total.detractors == 1)
        #expect(total.nps == Ratio(100, 4))
        #expect(total.nps.decimal(digits: 2) == "25.00")
        #expect(OutcomeSummary().nps.decimal(digits: 2) == nil, "nobody answered: undefined")
        var detracted = OutcomeSummary()
        for _ in 0..<3 { detracted.detractors += 1 }
        #expect(detracted.nps.decimal(digits: 2) == "-100.00")
    }

    @Test func aBackDatedComplaintIsReportedOnTheDayItWasRecorded() {
        var ledger = LedgerUnderTest()
        let result = ledger.submit(
            #"{"type":"complaint","agent_id":"A-7","case_id":"BD-1","customer_id":"C-1","channel":"phone","category":"late","severity":3,"occurred_at":"2026-11-01T10:00:00Z"}"#,
            at: "2026-11-22T09:00:00Z")
        #expect(result.isSuccess)
        let report = OutcomeReport(cases: ledger.state.cases.values, by: .day, from: BusinessDay("2026-11-22"), now: ledger.clock)
        #expect(report.groups.map(\.key) == ["2026-11-22"])
        #expect(OutcomeReport(cases: ledger.state.cases.values, to: BusinessDay("2026-11-21"), now: ledger.clock).total.cases == 0)
        #expect(ledger.state.cases["BD-1"]?.openedAt == Timestamp(rfc3339: "2026-11-01T10:00:00Z"))
    }

    @Test func dayBudgetsListEveryPersonWithTotals() {
        var ledger = LedgerUnderTest(supervisors: ["S-1"])
        ledger.open("K-1")
        _ = ledger.compensate("K-1", 10_000)
        _ = ledger.compensate("K-1", 5_000, agent: "A-2")
        _ = ledger.compensate("K-1", 250_000, approvedBy: "S-1")
        _ = ledger.submit(#"{"type":"allowance","agent_id":"A-9","daily_limit":50000}"#, by: .admin)
        let day = DayBudgets(day: BusinessDay("2026-11-22")!, state: ledger.state)
        // A-9 did nothing, but has an allowance of their own: counted in the totals.
        #expect(day.rows.map(\.agentID) == ["A-2", "A-7", "A-9", "S-1"])
        #expect(day.totalSpent == 265_000)
        #expect(day.totalAllowance == 1_450_000)
        #expect(day.totalCompensations == 3)
        // The next day: the supervisor and A-9, whose settings stand, and no one else.
        #expect(DayBudgets(day: BusinessDay("2026-11-23")!, state: ledger.state).rows.map(\.agentID) == ["A-9", "S-1"])
        #expect(DayBudgets(day: BusinessDay("2026-11-21")!, state: ledger.state).rows.isEmpty, "before the ledger's first day")
    }

    @Test func settledCasesAndPastDaysCanBeDroppedFromMemory() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1", at: "2026-11-21T10:00:00Z")
        _ = ledger.compensate("K-1", 100)
        _ = ledger.followUp("K-1", satisfaction: 9)
        ledger.open("K-2", at: "2026-11-22T10:00:00Z")
        _ = ledger.compensate("K-2", 100)
        ledger.state.evictSettled(before: BusinessDay("2026-11-22")!)
        #expect(Array(ledger.state.cases.keys) == ["K-2"])
        #expect(ledger.state.budgets.keys.map(\.day.description) == ["2026-11-22"])
    }

    /// What may lie outside the state, as the writer's filters would say it.
    struct Maybe: OutsideTheState {
        var events: Set<String> = []
        var cases: Set<String> = []
        var customers: Set<String> = []
        func mayHold(event: EventID) -> Bool { events.contains(event.text) }
        func mayHold(case caseID: String) -> Bool { cases.contains(caseID) }
        func mayHold(customer: String) -> Bool { customers.contains(customer) }
    }

    @Test func aWorkingStateNamesTheRowsItLacksInsteadOfReadingThemAsAbsent() throws {
        var ledger = LedgerUnderTest()
        ledger.open("K-1", at: "2026-11-22T10:00:00Z")
        let compensation = try EventCodec.decode(
            json: Array(#"{"event_id":"00000000-0000-4000-8000-000000000001","type":"compensation","agent_id":"A-7","case_id":"K-9","amount":100,"currency":"USD","kind":"gift"}"#.utf8),
            currency: "USD"
        ).get()
        let complaint = try EventCodec.decode(
            json: Array(#"{"event_id":"00000000-0000-4000-8000-000000000002","type":"complaint","agent_id":"A-7","case_id":"K-8","customer_id":"C-4","channel":"phone","category":"x","severity":1}"#.utf8),
            currency: "USD"
        ).get()
        let batch = [compensation, complaint].map { Submission(event: $0, contentDigest: [1]) }
        let at = Timestamp(rfc3339: "2026-11-22T11:00:00Z")!
        // K-9 may be in the tables: deciding waits for it, and for the ids and the customer that may be known.
        let outside = Maybe(events: ["00000000-0000-4000-8000-000000000001"], cases: ["K-9"], customers: ["C-4"])
        guard case .needs(let needs) = Ledger.decide(batch: batch, lookups: Lookups(), state: ledger.state, at: at, outside: outside) else {
            Issue.record("decided without rows the state lacks")
            return
        }
        #expect(needs.caseIDs == ["K-9"])
        #expect(needs.customers == ["C-4"])
        #expect(needs.eventIDs.map(\.text) == ["00000000-0000-4000-8000-000000000001"])
        // Looked up and not found: now it is absent, and the compensation is refused for it.
        guard case .decided(let decision) = Ledger.decide(batch: batch, lookups: Lookups(done: needs), state: ledger.state, at: at, outside: outside)
        else {
            Issue.record("still undecided after the look-ups")
            return
        }
        #expect(decision.outcomes.first == .refused(Rejection(.notFound, "no case K-9; a case is opened by a complaint")))
        #expect(decision.records.map(\.event.caseID) == ["K-8"])
        // Nothing outside (a fold from the start): decided at once.
        guard case .decided = Ledger.decide(batch: batch, lookups: Lookups(), state: ledger.state, at: at, outside: Everything()) else {
            Issue.record("a complete state needs nothing")
            return
        }
    }
}

@Suite("Values that always store, load and replay")
struct ValueTests {
    @Test func anOccurredAtMoreThanADayAfterTheRecordingIsRefused() {
        var ledger = LedgerUnderTest()
        let far = ledger.submit(
            #"{"type":"complaint","agent_id":"A-7","case_id":"K-1","customer_id":"C-1","channel":"phone","category":"x","severity":1,"occurred_at":"9999-12-31T23:59:59-23:59"}"#,
            at: "2026-11-22T09:00:00Z")
        #expect(far.rejection?.code == .invalid)
        #expect(far.rejection?.message.hasPrefix("occurred_at 9999-12-31T23:59:59-23:59 is more than 24 h after") == true)
        // Exactly 24 h ahead is accepted; a microsecond more is not.
        #expect(ledger.submit(
            #"{"type":"complaint","agent_id":"A-7","case_id":"K-2","customer_id":"C-1","channel":"phone","category":"x","severity":1,"occurred_at":"2026-11-23T09:00:00Z"}"#,
            at: "2026-11-22T09:00:00Z").isSuccess)
        #expect(ledger.submit(
            #"{"type":"apology","agent_id":"A-7","case_id":"K-2","occurred_at":"2026-11-23T09:00:00.000001Z"}"#,
            at: "2026-11-22T09:00:00Z").rejection?.code == .invalid)
        // The epoch itself is accepted.
        #expect(ledger.submit(
            #"{"type":"complaint","agent_id":"A-7","case_id":"K-3","customer_id":"C-1","channel":"phone","category":"x","severity":1,"occurred_at":"1970-01-01T00:00:00Z"}"#
        ).isSuccess)
    }

    @Test func freeTextKeepsTabLineFeedAndCarriageReturn() {
        var ledger = LedgerUnderTest()
        ledger.open("K-1")
        #expect(ledger.submit(#"{"type":"apology","agent_id":"A-7","case_id":"K-1","note":"line one\n\tline two\r\n"}"#).isSuccess)
    }
}
