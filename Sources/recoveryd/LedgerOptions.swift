import ArgumentParser
import Foundation
import RecoveryDomain

/// The ledger's currency, time zone and default allowances.
struct LedgerOptions: ParsableArguments {
    @Option(help: "The ledger's ISO 4217 currency.")
    var currency = "USD"

    @Option(help: "The ledger's time zone (IANA name); business days are dates in it.")
    var timeZone = "UTC"

    @Option(help: "Daily allowance of a person without an allowance event, in minor units.")
    var defaultAllowance: Int64 = 200_000

    @Option(help: "Daily allowance of a configured supervisor, in minor units.")
    var supervisorAllowance: Int64 = 1_000_000

    @Option(help: "A supervisor (agent_id); repeat for more.")
    var supervisor: [String] = []

    @Option(help: "Days (weekends count) from the first compensation, or the complaint, to the end of the day a case's first follow-up is due (0–365; fixed at the first start).")
    var followUpWithinDays = 2

    @Option(help: "A complaint is a repeat when the customer had another case recorded this many days before it, or fewer (0–36500; fixed at the first start).")
    var repeatWindowDays = 365

    @Option(help: "The most compensation, in minor units, one customer may receive per business day across all agents (default: no cap).")
    var customerDailyCap: Int64?

    @Option(help: "A recorded compensation's answer warns when the person charged has less than this percentage of their allowance left (0–100).")
    var warnBelowPercent = 20

    func ledger() throws -> LedgerConfiguration {
        guard Money.isCurrencyCode(currency) else { throw ValidationError("--currency must be an ISO 4217 code such as USD") }
        guard let zone = TimeZone(identifier: timeZone) else { throw ValidationError("--time-zone \(timeZone) is not a known time zone") }
        guard defaultAllowance >= 0, supervisorAllowance >= 0 else { throw ValidationError("allowances are never negative") }
        guard (0...100).contains(warnBelowPercent) else { throw ValidationError("--warn-below-percent must be from 0 to 100") }
        guard (0...365).contains(followUpWithinDays) else { throw ValidationError("--follow-up-within-days must be from 0 to 365") }
        guard (0...36_500).contains(repeatWindowDays) else { throw ValidationError("--repeat-window-days must be from 0 to 36500") }
        if let customerDailyCap, customerDailyCap < 0 { throw ValidationError("--customer-daily-cap is never negative") }
        var configuration = LedgerConfiguration(
            currency: currency, timeZone: zone, defaultAllowance: defaultAllowance,
            defaultSupervisorAllowance: supervisorAllowance, supervisors: Set(supervisor))
        configuration.warnBelowPercent = warnBelowPercent
        configuration.followUpWithinDays = followUpWithinDays
        configuration.repeatWindowDays = repeatWindowDays
        configuration.customerDailyCap = customerDailyCap
        return configuration
    }
}

