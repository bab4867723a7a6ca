/// What `recoveryd serve`'s settings flags ask of a ledger. On a new ledger
/// they are recorded as its opening events; on an existing one they are only
/// compared with what its log says, and a difference refuses the start: no
/// flag ever overrides the log (docs/OPERATIONS.md, "Settings").
public struct LedgerSeed: Sendable, Equatable {
    /// The settings given (absent: not given).
    public var settings: [SettingName: SettingValue]
    /// People to make supervisors, in the order given.
    public var supervisors: [String]

    public init(settings: [SettingName: SettingValue] = [:], supervisors: [String] = []) {
        self.settings = settings
        self.supervisors = supervisors
    }

    public var isEmpty: Bool { settings.isEmpty && supervisors.isEmpty }

    /// The opening events: one `ledger_setting` per setting, recorded by the
    /// daemon (fixed ones first), then one `allowance` per supervisor, who
    /// follow the supervisors' default allowance. All go in one batch, before
    /// any client's event.
    public func openingEvents(newEventID: () -> EventID) -> [Event] {
        let ordered = settings.keys.sorted { ($0.isFixed ? 0 : 1, $0.rawValue) < ($1.isFixed ? 0 : 1, $1.rawValue) }
        var events = ordered.map { name in
            Event(
                eventID: newEventID(), agentID: Ledger.daemonAgentID, caseID: nil,
                body: .ledgerSetting(LedgerSetting(name: name, value: settings[name]!)))
        }
        var seen: Set<String> = []
        for supervisor in supervisors where seen.insert(supervisor).inserted {
            events.append(
                Event(eventID: newEventID(), agentID: supervisor, caseID: nil, body: .allowance(AllowanceChange(dailyLimit: nil, role: .supervisor))))
        }
        return events
    }

    /// One flag that says otherwise than the log.
    public struct Difference: Sendable, Equatable, CustomStringConvertible {
        /// The flag, as written on the command line.
        public var flag: String
        public var given: String
        public var recorded: String
        /// What changes it the way the log wants: a command to run.
        public var remedy: String

        public var description: String {
            "\(flag) \(given) differs from the ledger's log, which says \(recorded); the log rules: start without the flag, or change the setting with `\(remedy)`"
        }
    }

    /// Every flag whose value differs from what `state` (folded from the log)
    /// has in force on `day`.
    public func differences(from state: some LedgerRows, on day: BusinessDay) -> [Difference] {
        let inForce = state.settingsHistory.settings(on: day)
        var found: [Difference] = []
        for name in settings.keys.sorted() where settings[name] != inForce.value(of: name) {
            let flag = "--" + name.rawValue.replacingOccurrences(of: "_", with: "-")
            found.append(
                Difference(
                    flag: flag, given: settings[name]!.description, recorded: "\(name.rawValue) = \(inForce.value(of: name))",
                    remedy: name.isFixed
                        ? "nothing: \(name.rawValue) is fixed when the ledger is created"
                        : "recoveryctl settings set \(name.rawValue) \(settings[name]!)"))
        }
        for supervisor in supervisors where state.role(of: supervisor, on: day) != .supervisor {
            found.append(
                Difference(
                    flag: "--supervisor", given: supervisor, recorded: "\(supervisor) is not a supervisor",
                    remedy: "recoveryctl allowance \(supervisor) --role supervisor"))
        }
        return found
    }
}
