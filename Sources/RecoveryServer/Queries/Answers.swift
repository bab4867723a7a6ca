import LedgerStore
import LineProtocol
import RecoveryDomain
import RecoveryWire

/// The replies of `OK` answers (``Reply``, the wire's one definition of
/// each), built from domain values.
package enum Answers {
    package static func head(_ head: SignedHead) -> Reply.Head {
        Reply.Head(ledger: head.ledger, position: head.position, hash: head.hash, signedAt: head.signedAt, signature: head.signature)
    }

    package static func hello(
        role: ClientRole, agent: String?, position: Int64, signingKey: String, limits: Limits, settings: LedgerSettings, mode: String
    ) -> Reply.Hello {
        var values: [String: JSONValue] = [:]
        for name in SettingName.allCases { values[name.rawValue] = value(settings.value(of: name)) }
        return Reply.Hello(
            version: recoverydVersion, role: role.rawValue, position: position, settings: values,
            limits: Dictionary(uniqueKeysWithValues: limits.named.map { ($0.name, $0.value) }), signingKey: signingKey, agent: agent, mode: mode)
    }

    /// One line of `CASES` (and, with `due`, of `DUE`): what an app shows of a returning customer's history.
    package static func caseSummary(_ c: CaseState, currency: String, due: Reply.CaseSummary.Due? = nil) -> Reply.CaseSummary {
        Reply.CaseSummary(
            caseId: c.caseID, customerId: c.customerID, owner: c.owner, status: c.status.rawValue, outcome: c.outcome.rawValue,
            channel: c.channel.rawValue, category: c.category, severity: c.severity, openedAt: c.openedAt.description,
            openedDay: c.openedDay.description, compensationNet: c.compensationNet, currency: currency, lastPosition: c.lastPosition,
            isRepeat: c.isRepeat, priorCases: c.priorCases, due: due)
    }

    package static func caseState(_ c: CaseState, events: [StoredEvent], currency: String) throws -> Reply.Case {
        var payloads: [Reply.Case.Event] = []
        for event in events {
            guard case .object(let payload) = try JSONParser.parse(event.payload) else {
                throw ProtocolError(.internalError, "the payload at position \(event.position) is not a JSON object")
            }
            payloads.append(Reply.Case.Event(payload: payload))
        }
        return Reply.Case(
            caseId: c.caseID, customerId: c.customerID, channel: c.channel.rawValue, category: c.category, severity: c.severity, owner: c.owner,
            openedAt: c.openedAt.description, openedDay: c.openedDay.description, status: c.status.rawValue, outcome: c.outcome.rawValue,
            steps: c.steps.names, mamaComplete: c.steps.isComplete, compensationNet: c.compensationNet, currency: currency,
            lastPosition: c.lastPosition, baseline: c.baseline, satisfaction: c.satisfaction, wouldRecommend: c.wouldRecommend,
            uplift: c.uplift, isRepeat: c.isRepeat, priorCases: c.priorCases, followUpDue: c.followUpDue?.description,
            followUpLate: c.followUpLate, secondsToApology: c.secondsToApology.map(WireDecimal.init),
            secondsToResolution: c.secondsToResolution.map(WireDecimal.init), events: payloads)
    }

    /// A setting's value in JSON.
    package static func value(_ value: SettingValue) -> JSONValue {
        switch value {
        case .integer(let number): .integer(number)
        case .text(let text): .string(text)
        case .none: .null
        }
    }

    /// `SETTINGS`: the values in force, the position of the event that set
    /// each (null: built in), and the supervisors.
    package static func settings(_ settings: LedgerSettings, positions: [SettingName: Int64], day: BusinessDay, supervisors: [String]) -> Reply.Settings {
        var values: [String: JSONValue] = [:]
        var set: [String: Int64?] = [:]
        for name in SettingName.allCases {
            values[name.rawValue] = value(settings.value(of: name))
            set[name.rawValue] = .some(positions[name])
        }
        return Reply.Settings(day: day.description, settings: values, positions: set, supervisors: supervisors)
    }

    package static func budget(agentID: String, day: BusinessDay, row: BudgetDay, currency: String) -> Reply.Budget {
        Reply.Budget(
            agentId: agentID, day: day.description, allowance: row.allowance, spent: row.spent, remaining: row.remaining, currency: currency,
            compensations: row.compensations, reversals: row.reversals, lateReversals: row.lateReversals, lateReversed: row.lateReversed)
    }

    package static func budgets(_ day: DayBudgets, currency: String) -> Reply.Budgets {
        Reply.Budgets(
            day: day.day.description, currency: currency,
            agents: day.rows.map { budget(agentID: $0.agentID, day: day.day, row: $0.budget, currency: currency) },
            covers: "everyone with a charge, a reversal or an allowance change that day, or an allowance setting of their own",
            totalAllowance: day.totalAllowance, totalSpent: day.totalSpent, compensations: day.totalCompensations,
            reversals: day.totalReversals, lateReversals: day.totalLateReversals, lateReversed: day.totalLateReversed)
    }

    package static func summary(_ s: OutcomeSummary, key: String? = nil, owned: Bool = false) -> Reply.Outcomes.Summary {
        Reply.Outcomes.Summary(
            key: key, cases: s.cases, outcomes: Dictionary(uniqueKeysWithValues: Outcome.allCases.map { ($0.rawValue, s.count($0)) }),
            paradoxRate: s.paradoxRate.decimal(digits: 4).map(WireDecimal.init), meanUplift: s.meanUplift.decimal(digits: 2).map(WireDecimal.init),
            compensationTotal: s.compensationTotal, compensationClosed: s.compensationClosed,
            compensationPerParadox: s.compensationPerParadox.decimal(digits: 0).flatMap(Int64.init), promoters: s.promoters,
            passives: s.passives, detractors: s.detractors, nps: s.nps.decimal(digits: 2).map(WireDecimal.init),
            followUpOnTimeRate: s.followUpOnTimeRate.decimal(digits: 4).map(WireDecimal.init), followedUp: s.followedUp,
            followedUpOnTime: s.followedUpOnTime, followUpsOverdue: s.followUpsOverdue,
            // By owner: the money is in the cases the agent owns, whoever was charged.
            compensationOwned: owned ? s.compensationTotal : nil)
    }

    package static func outcomes(_ report: OutcomeReport, from: BusinessDay?, to: BusinessDay?, currency: String) -> Reply.Outcomes {
        Reply.Outcomes(
            by: report.dimension?.rawValue, from: from?.description, to: to?.description, currency: currency,
            groups: report.groups.map { summary($0.summary, key: $0.key, owned: report.dimension == .agent) }, total: summary(report.total))
    }

    package static func spending(_ rows: [SpendingRow], from: BusinessDay, to: BusinessDay, by: [SpendingDimension], currency: String) -> Reply.Spending {
        Reply.Spending(
            from: from.description, to: to.description, currency: currency, by: by.map(\.rawValue),
            rows: rows.map { row in
                Reply.Spending.Row(
                    agentId: row.key[.person], day: row.key[.day], kind: row.key[.kind], category: row.key[.category],
                    compensations: row.compensations, reversals: row.reversals, gross: row.gross, reversed: row.reversed, net: row.net,
                    overrides: row.overrides, spent: row.spent,
                    // By person: the person charged (the approver when there was one).
                    charged: by.contains(.person) ? row.gross : nil, allowance: row.allowance)
            })
    }
}
