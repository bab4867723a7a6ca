import LedgerStore
import LineProtocol
import RecoveryWire
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
        role: ClientRole, agent: String?, position: Int64, signingKey: String, limits: Limits, settings: LedgerSettings
    ) -> [String: JSONValue] {
        var object: [String: JSONValue] = [
            "server": .string("recoveryd"), "version": .string(recoverydVersion), "protocol": .integer(1),
            "role": .string(role.rawValue), "position": .integer(position),
        ]
        for name in SettingName.allCases { object[name.rawValue] = value(settings.value(of: name)) }
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

    /// A setting's value in JSON.
    static func value(_ value: SettingValue) -> JSONValue {
        switch value {
        case .integer(let number): .integer(number)
        case .text(let text): .string(text)
        case .none: .null
        }
    }

    /// `SETTINGS`: the values in force, the position of the event that set
    /// each (null: built in), and the supervisors.
    static func settings(
        _ settings: LedgerSettings, positions: [SettingName: Int64], day: BusinessDay, supervisors: [String]
    ) -> [String: JSONValue] {
        var object: [String: JSONValue] = ["day": .string(day.description)]
        var set: [String: JSONValue] = [:]
        for name in SettingName.allCases {
            object[name.rawValue] = value(settings.value(of: name))
            set[name.rawValue] = positions[name].map(JSONValue.integer) ?? .null
        }
        object["positions"] = .object(set)
        object["supervisors"] = .array(supervisors.map(JSONValue.string))
        return object
    }

    static func budget(agentID: String, day: BusinessDay, row: BudgetDay, currency: String) -> [String: JSONValue] {
        [
            "agent_id": .string(agentID), "day": .string(day.description), "allowance": .integer(row.allowance),
            "spent": .integer(row.spent), "remaining": .integer(row.remaining), "currency": .string(currency),
            "compensations": .integer(Int64(row.compensations)), "reversals": .integer(Int64(row.reversals)),
            "late_reversals": .integer(Int64(row.lateReversals)), "late_reversed": .integer(row.lateReversed),
        ]
    }

    static func budgets(_ day: DayBudgets, currency: String) -> [String: JSONValue] {
        [
            "day": .string(day.day.description), "currency": .string(currency),
            "agents": .array(day.rows.map { .object(budget(agentID: $0.agentID, day: day.day, row: $0.budget, currency: currency)) }),
            "people": .integer(Int64(day.rows.count)),
            "covers": .string("everyone with a charge, a reversal or an allowance change that day, or an allowance setting of their own"),
            "total_allowance": .integer(day.totalAllowance), "total_spent": .integer(day.totalSpent),
            "compensations": .integer(Int64(day.totalCompensations)), "reversals": .integer(Int64(day.totalReversals)),
            "late_reversals": .integer(Int64(day.totalLateReversals)), "late_reversed": .integer(day.totalLateReversed),
        ]
    }

    static func summary(_ s: OutcomeSummary) -> [String: JSONValue] {
        var object: [String: JSONValue] = ["cases": .integer(Int64(s.cases))]
        for outcome in Outcome.allCases { object[outcome.rawValue] = .integer(Int64(s.count(outcome))) }
        object["paradox_rate"] = s.paradoxRate.decimal(digits: 4).map(JSONValue.fraction) ?? .null
        object["mean_uplift"] = s.meanUplift.decimal(digits: 2).map(JSONValue.fraction) ?? .null
        object["compensation_total"] = .integer(s.compensationTotal)
        object["compensation_closed"] = .integer(s.compensationClosed)
        object["compensation_per_paradox"] = s.compensationPerParadox.decimal(digits: 0).flatMap(Int64.init).map(JSONValue.integer) ?? .null
        object["promoters"] = .integer(Int64(s.promoters))
        object["passives"] = .integer(Int64(s.passives))
        object["detractors"] = .integer(Int64(s.detractors))
        object["nps"] = s.nps.decimal(digits: 2).map(JSONValue.fraction) ?? .null
        object["follow_up_on_time_rate"] = s.followUpOnTimeRate.decimal(digits: 4).map(JSONValue.fraction) ?? .null
        object["followed_up"] = .integer(Int64(s.followedUp))
        object["followed_up_on_time"] = .integer(Int64(s.followedUpOnTime))
        object["follow_ups_overdue"] = .integer(Int64(s.followUpsOverdue))
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
                // By owner: the money is in the cases the agent owns, whoever was charged.
                if report.dimension == .agent { entry["compensation_owned"] = .integer(group.summary.compensationTotal) }
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
                        "compensations": .integer(row.compensations), "gross": .integer(row.gross), "reversals": .integer(row.reversals),
                        "reversed": .integer(row.reversed), "net": .integer(row.net), "overrides": .integer(row.overrides),
                        "spent": .integer(row.spent),
                    ]
                    for (dimension, value) in row.key { object[names[dimension]!] = .string(value) }
                    // By person: the person charged (the approver when there was one).
                    if by.contains(.person) { object["charged"] = .integer(row.gross) }
                    if let allowance = row.allowance { object["allowance"] = .integer(allowance) }
                    return .object(object)
                }),
            "total_gross": .integer(rows.reduce(0) { $0 + $1.gross }), "total_reversed": .integer(rows.reduce(0) { $0 + $1.reversed }),
            "total_net": .integer(rows.reduce(0) { $0 + $1.net }),
            "compensations": .integer(rows.reduce(0) { $0 + $1.compensations }), "reversals": .integer(rows.reduce(0) { $0 + $1.reversals }),
            "overrides": .integer(rows.reduce(0) { $0 + $1.overrides }),
        ]
    }
}
