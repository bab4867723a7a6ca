/// What outcomes can be grouped by (DESIGN.md §2).
public enum OutcomeDimension: String, Sendable, CaseIterable {
    /// The agent who holds the case (after any escalation).
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

/// Outcome counts and rates over a set of cases.
public struct OutcomeSummary: Sendable, Equatable {
    public var counts: [Outcome: Int] = [:]
    /// Sum and count of satisfaction uplifts, over resolved cases with a
    /// baseline (outcome paradox, restored or unrecovered): an open case's
    /// interim answer and a defected customer's last one are not outcomes.
    public var upliftSum: Int64 = 0
    public var upliftCount: Int64 = 0
    /// Compensation given, net of reversals, over all cases counted.
    public var compensationTotal: Int64 = 0
    /// Net Promoter counts from each case's latest `would_recommend`:
    /// promoters 9–10, passives 7–8, detractors 0–6.
    public var promoters = 0
    public var passives = 0
    public var detractors = 0
    /// Cases whose first follow-up is recorded, and those of them on time.
    public var followedUp = 0
    public var followedUpOnTime = 0

    public init() {}

    public mutating func add(_ state: CaseState) {
        counts[state.outcome, default: 0] += 1
        if let late = state.followUpLate {
            followedUp += 1
            if !late { followedUpOnTime += 1 }
        }
        switch state.wouldRecommend {
        case .some(9...10): promoters += 1
        case .some(7...8): passives += 1
        case .some(0...6): detractors += 1
        default: break
        }
        if let uplift = state.uplift, [.paradox, .restored, .unrecovered].contains(state.outcome) {
            upliftSum += Int64(uplift)
            upliftCount += 1
        }
        compensationTotal += state.compensationNet
    }

    public func count(_ outcome: Outcome) -> Int { counts[outcome] ?? 0 }
    public var cases: Int { counts.values.reduce(0, +) }

    /// paradox ÷ (paradox + restored + unrecovered + defected).
    public var paradoxRate: Ratio {
        let decided = [Outcome.paradox, .restored, .unrecovered, .defected].map(count).reduce(0, +)
        return Ratio(Int64(count(.paradox)), Int64(decided))
    }

    public var meanUplift: Ratio { Ratio(upliftSum, upliftCount) }

    /// First follow-ups recorded by their deadline ÷ first follow-ups recorded.
    public var followUpOnTimeRate: Ratio { Ratio(Int64(followedUpOnTime), Int64(followedUp)) }

    /// NPS = 100 × (promoters − detractors) ÷ answered; undefined when nobody answered.
    public var nps: Ratio { Ratio(100 * Int64(promoters - detractors), Int64(promoters + passives + detractors)) }

    /// What one paradox cost: all compensation given in the cases counted
    /// (net of reversals, whatever their outcome) ÷ the paradox cases.
    public var compensationPerParadox: Ratio { Ratio(compensationTotal, Int64(count(.paradox))) }
}

/// An outcome report: the summary over every case in range, and per group when
/// a dimension is asked for.
public struct OutcomeReport: Sendable, Equatable {
    public var total: OutcomeSummary
    public var dimension: OutcomeDimension?
    /// Groups in ascending order of their key.
    public var groups: [(key: String, summary: OutcomeSummary)]

    /// Aggregates `cases` whose complaint day lies in `from...to` (either end
    /// open when `nil`), grouped by `dimension` if given.
    public init(
        cases: some Sequence<CaseState>, by dimension: OutcomeDimension? = nil, from: BusinessDay? = nil,
        to: BusinessDay? = nil
    ) {
        var total = OutcomeSummary()
        var grouped: [String: OutcomeSummary] = [:]
        for state in cases {
            if let from, state.openedDay < from { continue }
            if let to, state.openedDay > to { continue }
            total.add(state)
            if let dimension { grouped[dimension.key(of: state), default: OutcomeSummary()].add(state) }
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

/// Finance's view of one business day: every person's budget row and totals.
public struct DayBudgets: Sendable, Equatable {
    public var day: BusinessDay
    /// One row per person who has a row that day, by `agent_id`.
    public var rows: [(agentID: String, budget: BudgetDay)]

    public init(day: BusinessDay, state: LedgerState) {
        self.day = day
        rows = state.budgets.filter { $0.key.day == day }.sorted { $0.key.agentID < $1.key.agentID }
            .map { (agentID: $0.key.agentID, budget: $0.value) }
    }

    public var totalSpent: Int64 { rows.reduce(0) { $0 + $1.budget.spent } }
    public var totalAllowance: Int64 { rows.reduce(0) { $0 + $1.budget.allowance } }
    public var totalCompensations: Int { rows.reduce(0) { $0 + $1.budget.compensations } }
    public var totalReversals: Int { rows.reduce(0) { $0 + $1.budget.reversals } }

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
