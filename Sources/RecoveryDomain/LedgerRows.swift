/// The rows the deciders read and the fold writes: a case, a person's budget on
/// a day, a person's allowance settings. ``LedgerState`` holds them directly;
/// ``LedgerView`` holds a batch's changes over a state it never copies. The
/// rules are written once, against this protocol, so both judge alike.
public protocol LedgerRows {
    var lastPosition: Int64 { get set }
    func caseState(_ caseID: String) -> CaseState?
    mutating func setCase(_ state: CaseState)
    func budgetRow(_ key: BudgetKey) -> BudgetDay?
    mutating func setBudgetRow(_ row: BudgetDay, for key: BudgetKey)
    func settings(of agentID: String) -> [AllowanceSetting]?
    mutating func setSettings(_ settings: [AllowanceSetting], of agentID: String)
    /// Notes that the compensation `eventID` of `caseID` was added or reversed.
    mutating func noteCompensation(_ eventID: EventID, of caseID: String)
    /// The recorded days of a customer's complaints within the repeat window
    /// (older ones may be dropped), oldest first; nil when not known here.
    func complaintDays(ofCustomer customerID: String) -> [BusinessDay]?
    mutating func setComplaintDays(_ days: [BusinessDay], ofCustomer customerID: String)
    /// Compensation given to a customer on a day, net of reversals (nil: none here).
    func customerSpent(_ key: CustomerDayKey) -> Int64?
    mutating func setCustomerSpent(_ spent: Int64, for key: CustomerDayKey)
}

extension LedgerRows {
    public mutating func noteCompensation(_ eventID: EventID, of caseID: String) {}

    public func setting(for agentID: String, on day: BusinessDay) -> AllowanceSetting? {
        settings(of: agentID)?.last { $0.since <= day }
    }

    public func role(of agentID: String, on day: BusinessDay, configuration: LedgerConfiguration) -> StaffRole {
        setting(for: agentID, on: day)?.role ?? (configuration.supervisors.contains(agentID) ? .supervisor : .agent)
    }

    public func allowance(for agentID: String, on day: BusinessDay, configuration: LedgerConfiguration) -> Int64 {
        if let row = budgetRow(BudgetKey(agentID: agentID, day: day)) { return row.allowance }
        if let setting = setting(for: agentID, on: day) { return setting.dailyLimit }
        return configuration.supervisors.contains(agentID)
            ? configuration.defaultSupervisorAllowance : configuration.defaultAllowance
    }

    public func budget(for agentID: String, on day: BusinessDay, configuration: LedgerConfiguration) -> BudgetDay {
        budgetRow(BudgetKey(agentID: agentID, day: day))
            ?? BudgetDay(allowance: allowance(for: agentID, on: day, configuration: configuration))
    }

    /// Folds a decided (or replayed) event in; see ``Ledger/evolve(_:with:configuration:)``.
    public mutating func fold(_ recorded: RecordedEvent, configuration: LedgerConfiguration) {
        precondition(recorded.position == lastPosition + 1, "events are folded in position order, without gaps")
        lastPosition = recorded.position
        let event = recorded.event
        let day = configuration.businessDay(of: recorded.recordedAt)
        let at = recorded.occurredAt

        if case .allowance(let change) = event.body {
            let role = change.role ?? role(of: event.agentID, on: day, configuration: configuration)
            var settings = settings(of: event.agentID) ?? []
            settings.removeAll { $0.since == day }
            settings.append(AllowanceSetting(since: day, dailyLimit: change.dailyLimit, role: role))
            settings.sort { $0.since < $1.since }
            setSettings(settings, of: event.agentID)
            let key = BudgetKey(agentID: event.agentID, day: day)
            if var row = budgetRow(key) {
                row.allowance = change.dailyLimit
                setBudgetRow(row, for: key)
            }
            return
        }
        guard let caseID = event.caseID else { return }

        if case .complaint(let complaint) = event.body {
            let earliest = day.adding(days: -Int64(configuration.repeatWindowDays))
            let history = (complaintDays(ofCustomer: complaint.customerID) ?? []).filter { $0 >= earliest }
            setComplaintDays(history + [day], ofCustomer: complaint.customerID)
            setCase(
                CaseState(
                    caseID: caseID, customerID: complaint.customerID, channel: complaint.channel,
                    category: complaint.category, severity: complaint.severity, baseline: complaint.baseline,
                    owner: event.agentID, openedAt: at, openedDay: day, status: .open,
                    steps: .listened, firstApologyAt: nil, resolvedAt: nil, satisfaction: nil, wouldRecommend: nil,
                    compensationNet: 0, compensations: [:], lastPosition: recorded.position,
                    followUpDue: configuration.followUpDue(from: day), priorCases: history.count))
            return
        }
        guard var current = caseState(caseID) else { return }
        current.lastPosition = recorded.position
        switch event.body {
        case .complaint, .allowance:
            break
        case .apology:
            current.steps.insert(.acknowledged)
            if current.firstApologyAt == nil { current.firstApologyAt = at }
        case .compensation(let compensation):
            let payer = compensation.approvedBy ?? event.agentID
            var row = budget(for: payer, on: day, configuration: configuration)
            row.spent += compensation.amount
            row.compensations += 1
            setBudgetRow(row, for: BudgetKey(agentID: payer, day: day))
            // The first compensation restarts the clock for the follow-up.
            if current.compensations.isEmpty { current.followUpDue = configuration.followUpDue(from: day) }
            current.compensations[event.eventID] = CaseState.CompensationEntry(
                amount: compensation.amount, chargedTo: payer, day: day, reversed: false)
            current.compensationNet += compensation.amount
            let customerDay = CustomerDayKey(customerID: current.customerID, day: day)
            setCustomerSpent((customerSpent(customerDay) ?? 0) + compensation.amount, for: customerDay)
            current.steps.insert(.met)
            noteCompensation(event.eventID, of: caseID)
        case .compensationReversal(let reversal):
            guard var entry = current.compensations[reversal.reverses], !entry.reversed else { break }
            entry.reversed = true
            current.compensations[reversal.reverses] = entry
            current.compensationNet -= entry.amount
            var row = budget(for: entry.chargedTo, on: entry.day, configuration: configuration)
            row.spent -= entry.amount
            row.reversals += 1
            precondition(row.spent >= 0, "a reversal never credits more than was charged")
            setBudgetRow(row, for: BudgetKey(agentID: entry.chargedTo, day: entry.day))
            let customerDay = CustomerDayKey(customerID: current.customerID, day: entry.day)
            setCustomerSpent((customerSpent(customerDay) ?? entry.amount) - entry.amount, for: customerDay)
            noteCompensation(reversal.reverses, of: caseID)
        case .escalation(let escalation):
            current.owner = escalation.toAgentID
        case .followUp(let followUp):
            current.satisfaction = followUp.satisfaction
            current.wouldRecommend = followUp.wouldRecommend
            if current.followUpLate == nil, let due = current.followUpDue { current.followUpLate = recorded.recordedAt > due }
            current.steps.insert(.followedUp)
            if followUp.isResolved, current.status == .open {
                current.status = .closed
                current.resolvedAt = at
                current.steps.insert(.met)
            }
        case .defection:
            current.status = .defected
        }
        setCase(current)
    }
}

extension LedgerState: LedgerRows {
    public func caseState(_ caseID: String) -> CaseState? { cases[caseID] }
    public mutating func setCase(_ state: CaseState) { cases[state.caseID] = state }
    public func budgetRow(_ key: BudgetKey) -> BudgetDay? { budgets[key] }
    public mutating func setBudgetRow(_ row: BudgetDay, for key: BudgetKey) { budgets[key] = row }
    public func settings(of agentID: String) -> [AllowanceSetting]? { allowances[agentID] }
    public mutating func setSettings(_ settings: [AllowanceSetting], of agentID: String) { allowances[agentID] = settings }
    public func complaintDays(ofCustomer customerID: String) -> [BusinessDay]? { customerComplaints[customerID] }
    public mutating func setComplaintDays(_ days: [BusinessDay], ofCustomer customerID: String) { customerComplaints[customerID] = days }
    public func customerSpent(_ key: CustomerDayKey) -> Int64? { customerDays[key] }
    public mutating func setCustomerSpent(_ spent: Int64, for key: CustomerDayKey) { customerDays[key] = spent }
}
