import LedgerStore
import LineProtocol
import RecoveryDomain

/// The JSON objects of `OK` answers (docs/PROTOCOL.md), built from domain values.
enum Answers {
    static func head(_ head: SignedHead) -> [String: JSONValue] {
        [
            "ledger": .string(head.ledger), "position": .integer(head.position), "hash": .string(head.hash),
            "signed_at": .string(head.signedAt), "signature": .string(head.signature),
        ]
    }

    static func hello(
        role: ClientRole, agent: String?, position: Int64, signingKey: String, limits: Limits, ledger: LedgerConfiguration
    ) -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "server": .string("recoveryd"), "version": .string(recoverydVersion), "protocol": .integer(1),
            "role": .string(role.rawValue), "position": .integer(position),
            "currency": .string(ledger.currency), "time_zone": .string(ledger.timeZone.identifier),
            "warn_below_percent": .integer(Int64(ledger.warnBelowPercent)),
            "follow_up_within_days": .integer(Int64(ledger.followUpWithinDays)),
            "repeat_window_days": .integer(Int64(ledger.repeatWindowDays)),
            "customer_daily_cap": ledger.customerDailyCap.map(JSONValue.integer) ?? .null,
        ]
        if let agent { object["agent"] = .string(agent) }
        object["signing_key"] = .string(signingKey)
        for (name, value) in limits.named { object[name] = .integer(Int64(value)) }
        return object
    }

    /// One line of `CASES`: what an app shows of a returning customer's history.
    static func caseSummary(_ c: CaseState, currency: String) -> [String: JSONValue] {
        [
            "case_id": .string(c.caseID), "customer_id": .string(c.customerID), "owner": .string(c.owner),
            "status": .string(c.status.rawValue), "outcome": .string(c.outcome.rawValue), "channel": .string(c.channel.rawValue),
            "category": .string(c.category), "severity": .integer(Int64(c.severity)), "opened_at": .string(c.openedAt.description),
            "opened_day": .string(c.openedDay.description), "compensation_net": .integer(c.compensationNet), "currency": .string(currency),
            "last_position": .integer(c.lastPosition), "repeat": .bool(c.isRepeat), "prior_cases": .integer(Int64(c.priorCases)),
        ]
    }

    static func caseState(_ c: CaseState, events: [StoredEvent], currency: String) throws -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "case_id": .string(c.caseID), "customer_id": .string(c.customerID), "channel": .string(c.channel.rawValue),
            "category": .string(c.category), "severity": .integer(Int64(c.severity)), "owner": .string(c.owner),
            "opened_at": .string(c.openedAt.description), "opened_day": .string(c.openedDay.description),
            "status": .string(c.status.rawValue), "outcome": .string(c.outcome.rawValue),
            "steps": .array(c.steps.names.map(JSONValue.string)), "mama_complete": .bool(c.steps.isComplete),
            "compensation_net": .integer(c.compensationNet), "currency": .string(currency),
            "last_position": .integer(c.lastPosition),
        ]
        object["baseline"] = c.baseline.map { .integer(Int64($0)) } ?? .null
        object["satisfaction"] = c.satisfaction.map { .integer(Int64($0)) } ?? .null
        object["would_recommend"] = c.wouldRecommend.map { .integer(Int64($0)) } ?? .null
        object["uplift"] = c.uplift.map { .integer(Int64($0)) } ?? .null
        object["repeat"] = .bool(c.isRepeat)
        object["prior_cases"] = .integer(Int64(c.priorCases))
        object["follow_up_due"] = c.followUpDue.map { .string($0.description) } ?? .null
        object["follow_up_late"] = c.followUpLate.map(JSONValue.bool) ?? .null
        object["seconds_to_apology"] = c.secondsToApology.map(JSONValue.fraction) ?? .null
        object["seconds_to_resolution"] = c.secondsToResolution.map(JSONValue.fraction) ?? .null
        object["events"] = .array(try events.map { try JSONParser.parse($0.payload) })
        return object
    }

    static func budget(agentID: String, day: BusinessDay, row: BudgetDay, currency: String) -> [String: JSONValue] {
        [
            "agent_id": .string(agentID), "day": .string(day.description), "allowance": .integer(row.allowance),
            "spent": .integer(row.spent), "remaining": .integer(row.remaining), "currency": .string(currency),
            "compensations": .integer(Int64(row.compensations)), "reversals": .integer(Int64(row.reversals)),
        ]
    }

    static func budgets(day: BusinessDay, rows: [(agentID: String, budget: BudgetDay)], currency: String) -> [String: JSONValue] {
        [
            "day": .string(day.description), "currency": .string(currency),
            "agents": .array(rows.map { .object(budget(agentID: $0.agentID, day: day, row: $0.budget, currency: currency)) }),
            "total_allowance": .integer(rows.reduce(0) { $0 + $1.budget.allowance }),
            "total_spent": .integer(rows.reduce(0) { $0 + $1.budget.spent }),
            "compensations": .integer(Int64(rows.reduce(0) { $0 + $1.budget.compensations })),
            "reversals": .integer(Int64(rows.reduce(0) { $0 + $1.budget.reversals })),
        ]
    }

    static func summary(_ s: OutcomeSummary) -> [String: JSONValue] {
        var object: [String: JSONValue] = ["cases": .integer(Int64(s.cases))]
        for outcome in Outcome.allCases { object[outcome.rawValue] = .integer(Int64(s.count(outcome))) }
        object["paradox_rate"] = s.paradoxRate.decimal(digits: 4).map(JSONValue.fraction) ?? .null
        object["mean_uplift"] = s.meanUplift.decimal(digits: 2).map(JSONValue.fraction) ?? .null
        object["compensation_total"] = .integer(s.compensationTotal)
        object["compensation_per_paradox"] = s.compensationPerParadox.decimal(digits: 0).flatMap(Int64.init).map(JSONValue.integer) ?? .null
        object["promoters"] = .integer(Int64(s.promoters))
        object["passives"] = .integer(Int64(s.passives))
        object["detractors"] = .integer(Int64(s.detractors))
        object["nps"] = s.nps.decimal(digits: 2).map(JSONValue.fraction) ?? .null
        object["follow_up_on_time_rate"] = s.followUpOnTimeRate.decimal(digits: 4).map(JSONValue.fraction) ?? .null
        return object
    }

    static func outcomes(_ report: OutcomeReport, from: BusinessDay?, to: BusinessDay?, currency: String) -> [String: JSONValue] {
        var object = summary(report.total)
        object["by"] = report.dimension.map { .string($0.rawValue) } ?? .null
        object["from"] = from.map { .string($0.description) } ?? .null
        object["to"] = to.map { .string($0.description) } ?? .null
        object["currency"] = .string(currency)
        object["groups"] = .array(
            report.groups.map { group in
                var entry = summary(group.summary)
                entry["key"] = .string(group.key)
                return .object(entry)
            })
        return object
    }

    static func spending(_ rows: [SpendingRow], from: BusinessDay, to: BusinessDay, by: [SpendingDimension], currency: String) -> [String: JSONValue] {
        let names: [SpendingDimension: String] = [.person: "agent_id", .day: "day", .kind: "kind", .category: "category"]
        return [
            "from": .string(from.description), "to": .string(to.description), "currency": .string(currency),
            "by": .array(by.map { .string($0.rawValue) }),
            "rows": .array(
                rows.map { row in
                    var object: [String: JSONValue] = [
                        "compensations": .integer(row.compensations), "reversals": .integer(row.reversals), "gross": .integer(row.gross),
                        "net": .integer(row.net),
                    ]
                    for (dimension, value) in row.key { object[names[dimension]!] = .string(value) }
                    if let allowance = row.allowance { object["allowance"] = .integer(allowance) }
                    return .object(object)
                }),
            "total_net": .integer(rows.reduce(0) { $0 + $1.net }), "total_gross": .integer(rows.reduce(0) { $0 + $1.gross }),
            "compensations": .integer(rows.reduce(0) { $0 + $1.compensations }), "reversals": .integer(rows.reduce(0) { $0 + $1.reversals }),
        ]
    }
}
