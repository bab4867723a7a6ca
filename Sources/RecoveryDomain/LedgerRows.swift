/// The rows the deciders read and the fold writes: a case, a person's budget on
/// a day, a person's allowance settings, the ledger's settings. ``LedgerState``
/// holds them directly; ``LedgerView`` holds a batch's changes over a state it
/// never copies. The rules are written once, against this protocol, so both
/// judge alike — and since the ledger's settings are rows like any other,
/// folded from `ledger_setting` events, no rule can take them from anywhere
/// but the log.
public protocol LedgerRows {
    var lastPosition: Int64 { get set }
    func caseState(_ caseID: String) -> CaseState?
    mutating func setCase(_ state: CaseState)
    func budgetRow(_ key: BudgetKey) -> BudgetDay?
    mutating func setBudgetRow(_ row: BudgetDay, for key: BudgetKey)
    /// The people with a budget row on `day`.
    func budgetPeople(on day: BusinessDay) -> Set<String>
    func settings(of agentID: String) -> [AllowanceSetting]?
    mutating func setSettings(_ settings: [AllowanceSetting], of agentID: String)
    /// Notes that the compensation `eventID` of `caseID` was added or reversed.
    mutating func noteCompensation(_ eventID: EventID, of caseID: String)
    /// The recorded days of a customer's complaints, oldest first; nil when
    /// not known here.
    func complaintDays(ofCustomer customerID: String) -> [BusinessDay]?
    mutating func setComplaintDays(_ days: [BusinessDay], ofCustomer customerID: String)
    /// Compensation given to a customer on a day, net of same-day reversals (nil: none here).
    func customerSpent(_ key: CustomerDayKey) -> Int64?
    mutating func setCustomerSpent(_ spent: Int64, for key: CustomerDayKey)
    /// The ledger's settings, as its `ledger_setting` events recorded them.
    var settingsHistory: SettingsHistory { get }
    mutating func setSettingsHistory(_ history: SettingsHistory)
}

extension LedgerRows {
    public mutating func noteCompensation(_ eventID: EventID, of caseID: String) {}

    public func setting(for agentID: String, on day: BusinessDay) -> AllowanceSetting? {
        settings(of: agentID)?.last { $0.since <= day }
    }

    /// A person is a supervisor when their allowance setting in force says so.
    public func role(of agentID: String, on day: BusinessDay) -> StaffRole {
        setting(for: agentID, on: day)?.role ?? .agent
    }

    /// The allowance a person's row of `day` starts with: their own limit, or
    /// their role's default in force that day.
    func allowanceSetting(for agentID: String, on day: BusinessDay) -> Int64 {
        let setting = setting(for: agentID, on: day)
        return setting?.dailyLimit ?? settingsHistory.settings(on: day).defaultAllowance(for: setting?.role ?? .agent)
    }

    public func allowance(for agentID: String, on day: BusinessDay) -> Int64 {
        budgetRow(BudgetKey(agentID: agentID, day: day))?.allowance ?? allowanceSetting(for: agentID, on: day)
    }

    public func budget(for agentID: String, on day: BusinessDay) -> BudgetDay {
        budgetRow(BudgetKey(agentID: agentID, day: day)) ?? BudgetDay(allowance: allowanceSetting(for: agentID, on: day))
    }

    /// Folds a decided (or replayed) event in; see ``Ledger/evolve(_:with:)``.
    public mutating func fold(_ recorded: RecordedEvent) {
        precondition(recorded.position == lastPosition + 1, "events are folded in position order, without gaps")
        lastPosition = recorded.position
        let event = recorded.event
        let day = settingsHistory.businessDay(of: recorded.recordedAt)
        let at = recorded.occurredAt

        switch event.type {
        case .ledgerSetting:
            guard case .ledgerSetting(let recordedSetting) = event.body else { return }
            var history = settingsHistory
            let opening = event.agentID == Ledger.daemonAgentID
            if opening { history.openingRecordedAt = recorded.recordedAt }
            history.record(
                SettingChange(
                    name: recordedSetting.name, value: recordedSetting.value, since: opening ? .opening : day, position: recorded.position))
            setSettingsHistory(history)
            if recordedSetting.name == .defaultAllowance || recordedSetting.name == .supervisorAllowance {
                // The day's rows of people who follow their role's default move with it.
                for agentID in budgetPeople(on: day) where setting(for: agentID, on: day)?.dailyLimit == nil {
                    let key = BudgetKey(agentID: agentID, day: day)
                    guard var row = budgetRow(key), row.allowance != allowanceSetting(for: agentID, on: day) else { continue }
                    row.allowance = allowanceSetting(for: agentID, on: day)
                    setBudgetRow(row, for: key)
                }
            }
            return
        case .allowance:
            guard case .allowance(let change) = event.body else { return }
            let opening = settingsHistory.openingRecordedAt == recorded.recordedAt
            let since = opening ? BusinessDay.opening : day
            let role = change.role ?? role(of: event.agentID, on: day)
            var settings = settings(of: event.agentID) ?? []
            settings.removeAll { $0.since == since }
            settings.append(AllowanceSetting(since: since, dailyLimit: change.dailyLimit, role: role))
            settings.sort { $0.since < $1.since }
            setSettings(settings, of: event.agentID)
            let key = BudgetKey(agentID: event.agentID, day: day)
            if var row = budgetRow(key) {
                row.allowance = allowanceSetting(for: event.agentID, on: day)
                setBudgetRow(row, for: key)
            }
            return
        default:
            break
        }
        guard let caseID = event.caseID else { return }
        let settings = settingsHistory.settings(on: day)

        if event.type == .complaint {
            let customerID = event.customerID ?? ""
            let history = complaintDays(ofCustomer: customerID) ?? []
            let earliest = day.adding(days: -Int64(settings.repeatWindowDays))
            setComplaintDays(history + [day], ofCustomer: customerID)
            setCase(
                CaseState(
                    caseID: caseID, customerID: customerID, channel: event.channel ?? .other,
                    category: event.category ?? "", severity: event.severity ?? 1, baseline: event.baseline,
                    owner: event.agentID, openedAt: at, openedDay: day, status: .open,
                    steps: .listened, firstApologyAt: nil, resolvedAt: nil, satisfaction: nil, wouldRecommend: nil,
                    compensationNet: 0, compensations: [:], lastPosition: recorded.position,
                    followUpDue: settings.followUpDue(from: day), priorCases: history.count(where: { $0 >= earliest })))
            return
        }
        guard var current = caseState(caseID) else { return }
        current.lastPosition = recorded.position
        switch event.type {
        case .complaint, .allowance, .ledgerSetting:
            break
        case .apology:
            current.steps.insert(.acknowledged)
            if current.firstApologyAt == nil { current.firstApologyAt = at }
        case .compensation:
            let amount = event.amount ?? 0
            let payer = event.approvedBy ?? event.agentID
            var row = budget(for: payer, on: day)
            row.spent += amount
            row.compensations += 1
            setBudgetRow(row, for: BudgetKey(agentID: payer, day: day))
            // The first compensation restarts the clock for the follow-up.
            if current.compensations.isEmpty { current.followUpDue = settings.followUpDue(from: day) }
            current.compensations[event.eventID] = CaseState.CompensationEntry(
                amount: amount, chargedTo: payer, day: day, recordedBy: event.agentID, position: recorded.position,
                isOverride: event.hasOverrideReason)
            current.compensationNet += amount
            let customerDay = CustomerDayKey(customerID: current.customerID, day: day)
            setCustomerSpent((customerSpent(customerDay) ?? 0) + amount, for: customerDay)
            current.steps.insert(.met)
            noteCompensation(event.eventID, of: caseID)
        case .compensationReversal:
            guard let reverses = event.reverses, var entry = current.compensations[reverses], !entry.reversed else { break }
            entry.reversedDay = day
            entry.reversedPosition = recorded.position
            current.compensations[reverses] = entry
            current.compensationNet -= entry.amount
            var row = budget(for: entry.chargedTo, on: day)
            if entry.day == day {
                // The same day: the room comes back, to the person and to the customer.
                row.spent -= entry.amount
                row.reversals += 1
                precondition(row.spent >= 0, "a reversal never credits more than was charged")
                let customerDay = CustomerDayKey(customerID: current.customerID, day: day)
                setCustomerSpent((customerSpent(customerDay) ?? entry.amount) - entry.amount, for: customerDay)
            } else {
                // A closed day never changes: the reversal is a negative entry
                // of today, and gives no room back.
                row.lateReversals += 1
                row.lateReversed += entry.amount
            }
            setBudgetRow(row, for: BudgetKey(agentID: entry.chargedTo, day: day))
            noteCompensation(reverses, of: caseID)
        case .escalation:
            current.owner = event.toAgentID ?? current.owner
        case .followUp:
            current.satisfaction = event.satisfaction
            // A follow-up that did not ask leaves the last answer standing.
            if let answer = event.wouldRecommend { current.wouldRecommend = answer }
            if current.followUpLate == nil, let due = current.followUpDue { current.followUpLate = recorded.recordedAt > due }
            current.steps.insert(.followedUp)
            if event.isResolved, current.status == .open {
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
    public func budgetPeople(on day: BusinessDay) -> Set<String> { Set(budgets.keys.lazy.filter { $0.day == day }.map(\.agentID)) }
    public func settings(of agentID: String) -> [AllowanceSetting]? { allowances[agentID] }
    public mutating func setSettings(_ settings: [AllowanceSetting], of agentID: String) { allowances[agentID] = settings }
    public func complaintDays(ofCustomer customerID: String) -> [BusinessDay]? { customerComplaints[customerID] }
    public mutating func setComplaintDays(_ days: [BusinessDay], ofCustomer customerID: String) { customerComplaints[customerID] = days }
    public func customerSpent(_ key: CustomerDayKey) -> Int64? { customerDays[key] }
    public mutating func setCustomerSpent(_ spent: Int64, for key: CustomerDayKey) { customerDays[key] = spent }
    public mutating func setSettingsHistory(_ history: SettingsHistory) { settingsHistory = history }
}
