/// One case as the ledger knows it: the projection row of docs/EVENTS.md and what
/// the deciders need to judge the case's next step.
public struct CaseState: Sendable, Equatable {
    /// Where a case stands in its lifecycle.
    public enum Status: String, Sendable, CaseIterable {
        case open, closed, defected
    }

    /// A compensation recorded in this case, kept so a reversal can find it,
    /// credit the person and day it was charged to, and be judged by who may
    /// reverse it; and so spending can be told as of any position.
    public struct CompensationEntry: Sendable, Equatable {
        public var amount: Int64
        public var chargedTo: String
        public var day: BusinessDay
        /// The `agent_id` that recorded it.
        public var recordedBy: String
        /// Its position in the log.
        public var position: Int64
        /// A supervisor approved it over the customer's daily cap (`override_reason`).
        public var isOverride: Bool
        /// Once reversed: the business day and position of the reversal.
        public var reversedDay: BusinessDay?
        public var reversedPosition: Int64?

        public var reversed: Bool { reversedPosition != nil }

        public init(
            amount: Int64, chargedTo: String, day: BusinessDay, recordedBy: String, position: Int64, isOverride: Bool = false,
            reversedDay: BusinessDay? = nil, reversedPosition: Int64? = nil
        ) {
            self.amount = amount
            self.chargedTo = chargedTo
            self.day = day
            self.recordedBy = recordedBy
            self.position = position
            self.isOverride = isOverride
            self.reversedDay = reversedDay
            self.reversedPosition = reversedPosition
        }
    }

    public var caseID: String
    public var customerID: String
    public var channel: Channel
    public var category: String
    public var severity: Int
    public var baseline: Int?
    /// The agent who holds the case now (changed by escalations).
    public var owner: String
    /// When the complaint happened, and its business day (the day outcomes are
    /// grouped under).
    public var openedAt: Timestamp
    public var openedDay: BusinessDay
    public var status: Status
    public var steps: MAMASteps
    public var firstApologyAt: Timestamp?
    /// When the first resolved follow-up happened.
    public var resolvedAt: Timestamp?
    /// The latest follow-up's measurement.
    public var satisfaction: Int?
    /// The latest `would_recommend` a follow-up gave (one that gave none
    /// leaves the earlier answer standing).
    public var wouldRecommend: Int?
    /// Compensation given, net of reversals (minor units).
    public var compensationNet: Int64
    public var compensations: [EventID: CompensationEntry]
    /// Position of the last event of this case.
    public var lastPosition: Int64
    /// When the first follow-up is due (docs/EVENTS.md, "Follow-up deadlines"):
    /// the last instant of the business day `follow_up_within_days` after the
    /// first compensation's recorded day, or the complaint's if there is none.
    /// Nil only in a row written before this rule (a rebuild fills it).
    public var followUpDue: Timestamp?
    /// Once the first follow-up is recorded: whether it was recorded after
    /// ``followUpDue``.
    public var followUpLate: Bool?
    /// The deadline while the case awaits its first follow-up (open, not
    /// followed up, with a deadline); nil otherwise. The `follow_ups_due`
    /// table holds a row for exactly these cases.
    public var awaitsFollowUpBy: Timestamp? { status == .open && followUpLate == nil ? followUpDue : nil }
    /// The customer had other cases whose complaints were recorded within
    /// `repeat_window_days` before this one (docs/EVENTS.md): how many, and
    /// whether any (a repeat failure, not a first one).
    public var priorCases: Int
    public var isRepeat: Bool { priorCases > 0 }

    public init(
        caseID: String, customerID: String, channel: Channel, category: String, severity: Int, baseline: Int?,
        owner: String, openedAt: Timestamp, openedDay: BusinessDay, status: Status, steps: MAMASteps,
        firstApologyAt: Timestamp?, resolvedAt: Timestamp?, satisfaction: Int?, wouldRecommend: Int?,
        compensationNet: Int64, compensations: [EventID: CompensationEntry], lastPosition: Int64,
        followUpDue: Timestamp? = nil, followUpLate: Bool? = nil, priorCases: Int = 0
    ) {
        self.priorCases = priorCases
        self.followUpDue = followUpDue
        self.followUpLate = followUpLate
        self.caseID = caseID
        self.customerID = customerID
        self.channel = channel
        self.category = category
        self.severity = severity
        self.baseline = baseline
        self.owner = owner
        self.openedAt = openedAt
        self.openedDay = openedDay
        self.status = status
        self.steps = steps
        self.firstApologyAt = firstApologyAt
        self.resolvedAt = resolvedAt
        self.satisfaction = satisfaction
        self.wouldRecommend = wouldRecommend
        self.compensationNet = compensationNet
        self.compensations = compensations
        self.lastPosition = lastPosition
    }

    public var outcome: Outcome {
        switch status {
        case .defected: return .defected
        case .open: return .open
        case .closed:
            guard let baseline, let satisfaction else { return .unmeasured }
            return satisfaction > baseline ? .paradox : satisfaction == baseline ? .restored : .unrecovered
        }
    }

    /// Satisfaction now minus before the failure, when both are known.
    public var uplift: Int? {
        guard let baseline, let satisfaction else { return nil }
        return satisfaction - baseline
    }

    /// Seconds from the complaint to the first apology. Exact durations from the complaint's `occurred_at`, in seconds as a
    /// decimal with three places (milliseconds, rounded half away from zero).
    public var secondsToApology: String? { firstApologyAt.flatMap { Self.seconds(from: openedAt, to: $0) } }
    /// Seconds from the complaint to the first resolved follow-up.
    public var secondsToResolution: String? { resolvedAt.flatMap { Self.seconds(from: openedAt, to: $0) } }

    /// Never negative: an event recorded before a complaint dated ahead counts as at it.
    static func seconds(from start: Timestamp, to end: Timestamp) -> String? {
        Ratio(max(0, end.microseconds - start.microseconds), 1_000_000).decimal(digits: 3)
    }
}
