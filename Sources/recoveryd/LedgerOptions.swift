import ArgumentParser
import Foundation
import RecoveryDomain

/// `serve`'s settings flags. They seed a new ledger (recorded as its first
/// events); on an existing ledger a flag given is compared with the log, and
/// one that differs refuses the start (docs/OPERATIONS.md, "Settings"). A flag
/// left out says nothing: the log rules.
struct LedgerOptions: ParsableArguments {
    @Option(help: "A new ledger's ISO 4217 currency (default USD; fixed once the ledger exists).")
    var currency: String?

    @Option(help: "A new ledger's time zone, an IANA name (default UTC; fixed once the ledger exists); business days are dates in it.")
    var timeZone: String?

    @Option(help: "A new ledger's daily allowance of an agent without a limit of their own, in minor units (default 200000).")
    var defaultAllowance: Int64?

    @Option(help: "A new ledger's daily allowance of a supervisor without a limit of their own (default 1000000).")
    var supervisorAllowance: Int64?

    @Option(help: "A supervisor (agent_id) of a new ledger; repeat for more.")
    var supervisor: [String] = []

    @Option(help: "A new ledger's days (weekends count) from the first compensation, or the complaint, to the end of the day a case's first follow-up is due (0–365, default 2).")
    var followUpWithinDays: Int64?

    @Option(help: "A new ledger's repeat window: a complaint is a repeat when the customer had another case recorded this many days before it, or fewer (0–36500, default 365).")
    var repeatWindowDays: Int64?

    @Option(help: "A new ledger's cap on compensation, in minor units, to one customer per business day across all agents; `none` for no cap (the default).")
    var customerDailyCap: String?

    @Option(help: "A new ledger's budget warning: an answer warns when the person charged has less than this percentage of their allowance left (0–100, default 20).")
    var warnBelowPercent: Int64?

    /// The flags given, checked as `ledger_setting` events would be.
    func seed() throws -> LedgerSeed {
        var settings: [SettingName: SettingValue] = [:]
        settings[.currency] = currency.map(SettingValue.text)
        settings[.timeZone] = timeZone.map(SettingValue.text)
        settings[.defaultAllowance] = defaultAllowance.map(SettingValue.integer)
        settings[.supervisorAllowance] = supervisorAllowance.map(SettingValue.integer)
        settings[.followUpWithinDays] = followUpWithinDays.map(SettingValue.integer)
        settings[.repeatWindowDays] = repeatWindowDays.map(SettingValue.integer)
        settings[.warnBelowPercent] = warnBelowPercent.map(SettingValue.integer)
        if let customerDailyCap {
            guard let value = SettingValue(setting: .customerDailyCap, text: customerDailyCap) else {
                throw ValidationError("--customer-daily-cap must be an amount in minor units, or none")
            }
            settings[.customerDailyCap] = value
        }
        for (name, value) in settings {
            do {
                try LedgerSettings.check(name, value)
            } catch {
                throw ValidationError("--\(name.rawValue.replacingOccurrences(of: "_", with: "-")): \(error.message)")
            }
        }
        for person in supervisor where !Identifier.isValid(person) {
            throw ValidationError("--supervisor \(person) is not an agent_id (1–64 of A–Z a–z 0–9 . _ : @ -)")
        }
        return LedgerSeed(settings: settings, supervisors: supervisor)
    }

    /// The flags given, by name (for commands that take none any more).
    var given: [String] {
        var names: [String] = []
        if currency != nil { names.append("--currency") }
        if timeZone != nil { names.append("--time-zone") }
        if defaultAllowance != nil { names.append("--default-allowance") }
        if supervisorAllowance != nil { names.append("--supervisor-allowance") }
        if !supervisor.isEmpty { names.append("--supervisor") }
        if followUpWithinDays != nil { names.append("--follow-up-within-days") }
        if repeatWindowDays != nil { names.append("--repeat-window-days") }
        if customerDailyCap != nil { names.append("--customer-daily-cap") }
        if warnBelowPercent != nil { names.append("--warn-below-percent") }
        return names
    }
}
