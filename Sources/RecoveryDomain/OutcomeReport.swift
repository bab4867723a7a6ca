/// What outcomes can be grouped by (docs/EVENTS.md, "Outcome of a case").
public enum OutcomeDimension: String, Sendable, CaseIterable {
    /// The agent who holds the case now (after any escalation): its owner.
    /// Money in a group is the compensation in the cases it owns, whoever
    /// was charged (answers call it `compensation_owned`).
    case agent
    case channel, category, severity
    /// `first` or `repeat`: whether the customer had a case within the repeat
    /// window before (the paradox is expected after first failures only).
    case `repeat`
    /// The business day the complaint was recorded on (not its `occurred_at`:
    /// a back-dated complaint does not move into a past period's report).
    case day
    /// The Monday of the week the complaint was recorded in (weeks start on Monday).
    case week

    public func key(of state: CaseState) -> String {
        switch self {
        case .agent: state.owner
        case .channel: state.channel.rawValue
        case .category: state.category
        case .severity: String(state.severity)
        case .day: state.openedDay.description
        case .week: state.openedDay.weekStart.description
        case .repeat: state.isRepeat ? "repeat" : "first"
        }
    }
}

/// Outcome counts and rates over a set of cases (every formula: docs/EVENTS.md,
/// "The figures, exactly").
public struct OutcomeSummary: Sendable, Equatable {
    public var counts: [Outcome: Int] = [:]
    /// Sum and count of satisfaction uplifts, over resolved cases with a
    /// baseline (outcome paradox, restored or unrecovered): an open case's
    /// interim answer and a defected customer's last one are not outcomes.
    public var upliftSum: Int64 = 0
    public var upliftCount: Int64 = 0
    /// Compensation given, net of reversals, over all cases counted.
    public var compensationTotal: Int64 = 0
    /// The same over the cases that are no longer open (resolved or defected):
    /// what ``compensationPerParadox`` divides.
    public var compensationClosed: Int64 = 0
    /// Net Promoter counts from each case's latest `would_recommend` (the
    /// last follow-up that gave one): promoters 9–10, passives 7–8,
    /// detractors 0–6; a case whose customer defected is a detractor,
    /// whatever they answered before.
    public var promoters = 0
    public var passives = 0
    public var detractors = 0
    /// Cases whose first follow-up is recorded, and those of them on time.
    public var followedUp = 0
    public var followedUpOnTime = 0
    /// Open cases with no follow-up whose deadline has passed.
    public var followUpsOverdue = 0

    public init() {}

    /// Counts `state` in; `now` is the moment the answer is for (deadlines
    /// passed by then are overdue).
    public mutating func add(_ state: CaseState, now: Timestamp) {
        counts[state.outcome, default: 0] += 1
        if let late = state.followUpLate {
            followedUp += 1
            if !late { followedUpOnTime += 1 }
        } else if state.status == .open, let due = state.followUpDue, due < now {
            followUpsOverdue += 1
        }
        if state.status == .defected {
            detractors += 1
        } else {
            switch state.wouldRecommend {
            case .some(9...10): promoters += 1
            case .some(7...8): passives += 1
            case .some(0...6): detractors += 1
            default: break
            }
        }
        if let uplift = state.uplift, [.paradox, .restored, .unrecovered].contains(state.outcome) {
            upliftSum += Int64(uplift)
            upliftCount += 1
        }
        compensationTotal += state.compensationNet
        if state.status != .open { compensationClosed += state.compensationNet }
    }

    public func count(_ outcome: Outcome) -> Int { counts[outcome] ?? 0 }
    public var cases: Int { counts.values.reduce(0, +) }

    /// paradox ÷ (paradox + restored + unrecovered + defected).
    public var paradoxRate: Ratio {
        let decided = [Outcome.paradox, .restored, .unrecovered, .defected].map(count).reduce(0, +)
        return Ratio(Int64(count(.paradox)), Int64(decided))
    }

    public var meanUplift: Ratio { Ratio(upliftSum, upliftCount) }

    /// First follow-ups recorded by their deadline ÷ (first follow-ups recorded
    /// + open cases past their deadline with none): a skipped follow-up counts
    /// against the rate as soon as it is late.
    public var followUpOnTimeRate: Ratio { Ratio(Int64(followedUpOnTime), Int64(followedUp + followUpsOverdue)) }

    /// NPS = 100 × (promoters − detractors) ÷ answered; undefined when nobody answered.
    public var nps: Ratio { Ratio(100 * Int64(promoters - detractors), Int64(promoters + passives + detractors)) }

    /// What one paradox cost: the compensation in the closed cases counted
    /// (net of reversals, whatever their outcome) ÷ the paradox cases.
    public var compensationPerParadox: Ratio { Ratio(compensationClosed, Int64(count(.paradox))) }
}

/// An outcome report: the summary over every case in range, and per group when
/// a dimension is asked for.
public struct OutcomeReport: Sendable, Equatable {
    public var total: OutcomeSummary
    public var dimension: OutcomeDimension?
    /// Groups in ascending order of their key.
    public var groups: [(key: String, summary: OutcomeSummary)]

    /// Aggregates `cases` whose complaint day lies in `from...to` (either end
    /// open when `nil`), grouped by `dimension` if given, as of `now`.
    public init(
        cases: some Sequence<CaseState>, by dimension: OutcomeDimension? = nil, from: BusinessDay? = nil,
        to: BusinessDay? = nil, now: Timestamp
    ) {
        var total = OutcomeSummary()
        var grouped: [String: OutcomeSummary] = [:]
        for state in cases {
            if let from, state.openedDay < from { continue }
            if let to, state.openedDay > to { continue }
            total.add(state, now: now)
            if let dimension { grouped[dimension.key(of: state), default: OutcomeSummary()].add(state, now: now) }
        }
        self.total = total
        self.dimension = dimension
        groups = grouped.sorted { lhs, rhs in
            if dimension == .severity, let l = Int(lhs.key), let r = Int(rhs.key) { return l < r }
            return lhs.key < rhs.key
        }.map { (key: $0.key, summary: $0.value) }
    }

    public static func == (lhs: OutcomeReport, rhs: OutcomeReport) -> Bool {
        lhs.total == rhs.total && lhs.dimension == rhs.dimension
            && lhs.groups.map(\.key) == rhs.groups.map(\.key) && lhs.groups.map(\.summary) == rhs.groups.map(\.summary)
    }
}

/// Finance's view of one business day: the budget row of everyone who had a
/// charge, a reversal or an allowance change that day, or an allowance
/// setting of their own in force (so every supervisor and every person given
/// a limit is counted, active or not), and totals over exactly those rows.
public struct DayBudgets: Sendable, Equatable {
    public var day: BusinessDay
    /// One row per person, by `agent_id`.
    public var rows: [(agentID: String, budget: BudgetDay)]

    /// `rows`: the day's budget rows; `allowances`: every person's allowance
    /// settings; `settings`: the ledger's (the allowance of a row not written yet).
    public init(
        day: BusinessDay, rows: [String: BudgetDay], allowances: [String: [AllowanceSetting]], settings: SettingsHistory
    ) {
        self.day = day
        var all = rows
        let state = LedgerState(allowances: allowances, settingsHistory: settings)
        for (agentID, list) in allowances where all[agentID] == nil && list.contains(where: { $0.since <= day }) {
            all[agentID] = state.budget(for: agentID, on: day)
        }
        self.rows = all.sorted { $0.key < $1.key }.map { (agentID: $0.key, budget: $0.value) }
    }

    public init(day: BusinessDay, state: LedgerState) {
        var rows: [String: BudgetDay] = [:]
        for (key, row) in state.budgets where key.day == day { rows[key.agentID] = row }
        self.init(day: day, rows: rows, allowances: state.allowances, settings: state.settingsHistory)
    }

    public var totalSpent: Int64 { rows.reduce(0) { $0 + $1.budget.spent } }
    public var totalAllowance: Int64 { rows.reduce(0) { $0 + $1.budget.allowance } }
    public var totalCompensations: Int { rows.reduce(0) { $0 + $1.budget.compensations } }
    public var totalReversals: Int { rows.reduce(0) { $0 + $1.budget.reversals } }
    public var totalLateReversals: Int { rows.reduce(0) { $0 + $1.budget.lateReversals } }
    public var totalLateReversed: Int64 { rows.reduce(0) { $0 + $1.budget.lateReversed } }

    public static func == (lhs: DayBudgets, rhs: DayBudgets) -> Bool {
        lhs.day == rhs.day && lhs.rows.map(\.agentID) == rhs.rows.map(\.agentID)
            && lhs.rows.map(\.budget) == rhs.rows.map(\.budget)
    }
}

/// What `SPENDING` groups compensation by (docs/PROTOCOL.md).
public enum SpendingDimension: String, Sendable, CaseIterable {
    /// The person charged: the approver when there was one.
    case person
    /// The business day charged (the compensation's recorded day).
    case day
    /// The compensation's `kind`.
    case kind
    /// The case's category.
    case category
}
