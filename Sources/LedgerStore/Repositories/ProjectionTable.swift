import RecoveryDomain

/// One projection table as `COPY` fills it: its name, its columns, its key,
/// and how one row of the domain's state is written in COPY's text format.
/// The upserts of ``Projections/write(cases:compensations:budgets:allowances:customerDays:settings:)``
/// and a rebuild's load (``Projections/load(everything:chunk:)``) write rows
/// through the same descriptor, so the two cannot disagree on a column.
struct ProjectionTable<Row>: Sendable {
    let name: String
    let columns: [String]
    let key: [String]
    /// The row's values in column order; nil is SQL NULL.
    let values: @Sendable (Row) -> [String?]

    /// Appends `row` as one line of COPY's text format.
    func append(_ row: Row, to data: inout [UInt8]) {
        let fields = values(row)
        precondition(fields.count == columns.count, "a row has one value per column")
        for (index, value) in fields.enumerated() {
            if index > 0 { data.append(0x09) }
            if let value { CopyText.appendEscaped(value, to: &data) } else { data.append(contentsOf: [0x5C, UInt8(ascii: "N")]) }
        }
        data.append(0x0A)
    }
}

extension ProjectionTable<CaseState> {
    static let cases = ProjectionTable(
        name: "cases",
        columns: [
            "case_id", "customer_id", "channel", "category", "severity", "baseline", "owner_id", "opened_at",
            "opened_day", "status", "outcome", "steps", "first_apology_at", "resolved_at", "satisfaction",
            "would_recommend", "compensation_net", "last_position", "follow_up_due", "follow_up_late", "prior_cases",
        ],
        key: ["case_id"]
    ) { c in
        [
            c.caseID, c.customerID, c.channel.rawValue, c.category, String(c.severity), c.baseline.map(String.init),
            c.owner, c.openedAt.description, c.openedDay.description, c.status.rawValue, c.outcome.rawValue,
            "{" + c.steps.names.joined(separator: ",") + "}", c.firstApologyAt?.description,
            c.resolvedAt?.description, c.satisfaction.map(String.init), c.wouldRecommend.map(String.init),
            String(c.compensationNet), String(c.lastPosition), c.followUpDue?.description,
            c.followUpLate.map { $0 ? "true" : "false" }, String(c.priorCases),
        ]
    }
}

extension ProjectionTable<(String, Timestamp)> {
    /// A case that awaits its follow-up, and by when.
    static let followUpsDue = ProjectionTable(name: "follow_ups_due", columns: ["case_id", "due"], key: ["case_id"]) { row in
        [row.0, row.1.description]
    }
}

extension ProjectionTable<(caseID: String, eventID: EventID, entry: CaseState.CompensationEntry)> {
    static let compensations = ProjectionTable(
        name: "case_compensations",
        columns: [
            "event_id", "case_id", "amount", "charged_to", "day", "reversed", "recorded_by", "position", "cap_override",
            "reversed_day", "reversed_position",
        ],
        key: ["event_id"]
    ) { c in
        [
            c.eventID.text, c.caseID, String(c.entry.amount), c.entry.chargedTo, c.entry.day.description,
            c.entry.reversed ? "true" : "false", c.entry.recordedBy, String(c.entry.position),
            c.entry.isOverride ? "true" : "false", c.entry.reversedDay?.description, c.entry.reversedPosition.map(String.init),
        ]
    }
}

extension ProjectionTable<(key: BudgetKey, value: BudgetDay)> {
    static let budgets = ProjectionTable(
        name: "budget_days",
        columns: ["agent_id", "day", "allowance", "spent", "compensations", "reversals", "late_reversals", "late_reversed"],
        key: ["agent_id", "day"]
    ) { key, row in
        [
            key.agentID, key.day.description, String(row.allowance), String(row.spent), String(row.compensations),
            String(row.reversals), String(row.lateReversals), String(row.lateReversed),
        ]
    }
}

extension ProjectionTable<(String, AllowanceSetting)> {
    /// One person's allowance setting from a day on.
    static let allowances = ProjectionTable(
        name: "allowances", columns: ["agent_id", "since_day", "daily_limit", "role"], key: ["agent_id", "since_day"]
    ) { agent, setting in
        [agent, setting.since.description, setting.dailyLimit.map(String.init), setting.role.rawValue]
    }
}

extension ProjectionTable<(key: CustomerDayKey, value: Int64)> {
    static let customerDays = ProjectionTable(name: "customer_days", columns: ["customer_id", "day", "spent"], key: ["customer_id", "day"]) {
        key, spent in [key.customerID, key.day.description, String(spent)]
    }
}

extension ProjectionTable<SettingChange> {
    static let settings = ProjectionTable(name: "setting_changes", columns: ["position", "name", "since_day", "value"], key: ["position"]) {
        change in [String(change.position), change.name.rawValue, change.since.description, Projections.text(of: change.value)]
    }
}
