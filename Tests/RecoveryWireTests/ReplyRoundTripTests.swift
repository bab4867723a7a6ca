import RecoveryDomain
import RecoveryWire
import Testing

/// Every reply is defined once: what the server writes (`json`, as canonical
/// JSON on the line) a client reads back as the same value. No PostgreSQL,
/// no process.
@Suite("The wire's replies round-trip", .tags(.fast))
struct ReplyRoundTripTests {
    /// The `OK` line the server would send, read back as a client reads it.
    static func roundTrip<T: WireReply & Equatable>(_ reply: T) throws -> T {
        let line = String(decoding: Response.ok(reply).encoded(), as: UTF8.self)
        #expect(line.hasPrefix("OK {") && line.hasSuffix("}\n"))
        return try Answer(String(line.dropLast())).decode(T.self)
    }

    static func expectRoundTrip<T: WireReply & Equatable>(_ reply: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try roundTrip(reply) == reply, sourceLocation: sourceLocation)
    }

    static let summary = Reply.Outcomes.Summary(
        key: "A-7", cases: 4, outcomes: ["open": 1, "paradox": 1, "restored": 1, "unrecovered": 0, "unmeasured": 1, "defected": 0],
        paradoxRate: WireDecimal("0.3333"), meanUplift: WireDecimal("-1.50"), compensationTotal: 45_000, compensationClosed: 30_000,
        compensationPerParadox: 30_000, promoters: 1, passives: 1, detractors: 0, nps: WireDecimal("50.00"),
        followUpOnTimeRate: WireDecimal("1.0000"), followedUp: 2, followedUpOnTime: 2, followUpsOverdue: 1, compensationOwned: 45_000)

    /// Every setting, as the server always writes them all.
    static let settings: [String: JSONValue] = Dictionary(
        uniqueKeysWithValues: SettingName.allCases.map { name in
            (name.rawValue, name == .currency ? .string("USD") : name == .timeZone ? .string("America/New_York") : name == .customerDailyCap ? .null : .integer(20))
        })

    static let budget = Reply.Budget(
        agentId: "A-7", day: "2026-11-24", allowance: 200_000, spent: 15_000, remaining: 185_000, currency: "USD", compensations: 2,
        reversals: 1, lateReversals: 1, lateReversed: 500)

    @Test func everyReplyReadsBackAsTheValueTheServerWrote() throws {
        let asOf = Reply.AsOf(at: 41, atHash: "16e6")
        try Self.expectRoundTrip(
            Reply.Hello(
                version: "0.1.0", role: "frontline", position: 41,
                settings: Self.settings,
                limits: ["max_line": 65_536, "max_batch": 1_000], signingKey: "5b0c", agent: "A-7", mode: "follower", writer: nil,
                lag: .init(positions: nil, seconds: "0.120")))
        try Self.expectRoundTrip(
            Reply.Settings(
                day: "2026-11-24", settings: Self.settings,
                positions: ["currency": Int64?.some(1), "customer_daily_cap": Int64?.none], supervisors: ["S-1"], asOf: asOf))
        try Self.expectRoundTrip(Reply.Head(ledger: "default", position: 3, hash: "16e6", signedAt: "2026-11-26T17:02:40.123456Z", signature: "9f2c"))
        try Self.expectRoundTrip(Reply.LogHead(ledger: "default", position: 3, hash: "16e6", mode: "follower"))
        try Self.expectRoundTrip(Reply.Receipt(position: 7, hash: "ab12", duplicate: false, remaining: 1_850, warning: true))
        try Self.expectRoundTrip(Self.budget)
        var past = Self.budget
        past.asOf = asOf
        try Self.expectRoundTrip(past)
        try Self.expectRoundTrip(
            Reply.Budgets(
                day: "2026-11-24", currency: "USD", agents: [Self.budget], covers: "everyone", totalAllowance: 200_000, totalSpent: 15_000,
                compensations: 2, reversals: 1, lateReversals: 1, lateReversed: 500))
        try Self.expectRoundTrip(
            Reply.Case(
                caseId: "K-1", customerId: "C-1", channel: "phone", category: "late", severity: 3, owner: "A-7", openedAt: "2026-11-24T09:00:00.000000Z",
                openedDay: "2026-11-24", status: "closed", outcome: "paradox", steps: ["listened", "met"], mamaComplete: false,
                compensationNet: 15_000, currency: "USD", lastPosition: 9, baseline: 6, satisfaction: 9, wouldRecommend: nil, uplift: 3,
                isRepeat: true, priorCases: 1, followUpDue: nil, followUpLate: false, secondsToApology: WireDecimal("60.5"),
                secondsToResolution: nil,
                events: [Reply.Case.Event(payload: ["position": .integer(1), "type": .string("complaint"), "amount": .integer(1)])], asOf: asOf))
        try Self.expectRoundTrip(
            Reply.Outcomes(by: "agent", from: "2026-11-01", to: nil, currency: "USD", groups: [Self.summary], total: {
                var total = Self.summary
                total.key = nil
                total.compensationOwned = nil
                return total
            }()))
        let line = Reply.CaseSummary(
            caseId: "K-1", customerId: "C-1", owner: "A-7", status: "open", outcome: "open", channel: "phone", category: "late", severity: 3,
            openedAt: "2026-11-24T09:00:00.000000Z", openedDay: "2026-11-24", compensationNet: 0, currency: "USD", lastPosition: 1,
            isRepeat: false, priorCases: 0)
        try Self.expectRoundTrip(Reply.Cases(cases: [line], next: "K-1"))
        var due = line
        due.due = .init(followUpDue: "2026-11-25T23:59:59.999999Z", overdue: true)
        try Self.expectRoundTrip(Reply.Due(day: "2026-11-24", cases: [due]))
        try Self.expectRoundTrip(Reply.People(day: "2026-11-24", currency: "USD", people: [Reply.Person(agentId: "S-1", role: "supervisor", allowance: 1_000_000)]))
        try Self.expectRoundTrip(Reply.ReplaySummary(count: 3, last: 3, prevHash: "00", hash: "16e6"))
        try Self.expectRoundTrip(Reply.Unsubscribed(count: 5, last: 12))
        try Self.expectRoundTrip(Reply.Verified(verified: 3, last: 3, hash: "16e6"))
        try Self.expectRoundTrip(
            Reply.Spending(
                from: "2026-11-01", to: "2026-11-30", currency: "USD", by: ["person", "day"],
                rows: [
                    Reply.Spending.Row(
                        agentId: "A-7", day: "2026-11-24", compensations: 2, reversals: 1, gross: 15_500, reversed: 500, net: 15_000, overrides: 0,
                        spent: 15_000, charged: 15_500, allowance: 200_000)
                ], asOf: asOf))
        try Self.expectRoundTrip(
            Reply.Status(
                version: "0.1.0", mode: "follower", position: 41, database: "up", writerConnected: false, writer: "db-a:7411",
                lag: .init(positions: 0, seconds: "0.000"), connections: 3, unauthenticated: 0, connectionsByRole: ["auditor": 1, "frontline": 2],
                subscribers: 1, queueDepth: 0, uptimeSeconds: 3_600, startedAt: "2026-11-26T19:00:00.000000Z", ledger: "default",
                appendsRefused: "chain_broken 12 history was rewritten"))
    }

    @Test func aBudgetIsWrittenExactlyAsTheProtocolDocumentsIt() {
        let line = String(decoding: Response.ok(Self.budget).encoded(), as: UTF8.self)
        #expect(
            line
                == #"OK {"agent_id":"A-7","allowance":200000,"compensations":2,"currency":"USD","day":"2026-11-24","late_reversals":1,"late_reversed":500,"remaining":185000,"reversals":1,"spent":15000}"#
                + "\n")
    }

    @Test func exactDecimalsAreWrittenBackAsTheServerWroteThem() throws {
        let read = try Self.roundTrip(Reply.Outcomes(by: nil, from: nil, to: nil, currency: "USD", groups: [], total: Self.summary))
        #expect(read.total.followUpOnTimeRate?.text == "1.0000")
        #expect(read.total.meanUplift?.text == "-1.50")
        #expect(read.total.nps?.value == 50)
    }

    @Test func aReplyMissingAFieldSaysWhichOne() {
        let error = #expect(throws: ClientError.self) { try Answer(#"OK {"agent_id":"A-7","day":"2026-11-24"}"#).decode(Reply.Budget.self) }
        #expect(error?.description.contains("allowance is missing") == true, "\(String(describing: error))")
    }
}

extension Tag {
    /// Needs no PostgreSQL, no daemon process and no outside tool.
    @Tag static var fast: Self
}
