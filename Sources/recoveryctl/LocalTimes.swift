import ArgumentParser
import Foundation
import RecoveryWire
import RecoveryClient
import RecoveryDomain

/// How times are shown: in the ledger's time zone with its offset (what a
/// desk in New York reads as "end of Wednesday"), or in UTC with `--utc`.
struct TimeOptions: ParsableArguments {
    @Flag(help: "Show times in UTC instead of the ledger's time zone.") var utc = false

    /// The shower for a ledger whose HELLO said `timeZone`.
    func times(ledger timeZone: String) -> LocalTimes {
        LocalTimes(zone: utc ? TimeZone(identifier: "UTC")! : TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!)
    }
}

/// Writes RFC 3339 times in one time zone: `2026-12-02 23:59:59 -05:00`.
struct LocalTimes {
    let zone: TimeZone

    /// `text` (as the server writes it) in this zone, to the second; as it
    /// is when it does not parse.
    func show(_ text: String) -> String {
        guard let instant = Timestamp(rfc3339: text) else { return text }
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant.seconds))))
        let local = Timestamp(microseconds: (instant.seconds + offset) * 1_000_000).description  // YYYY-MM-DDTHH:MM:SS.ffffffZ
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        return "\(local.prefix(10)) \(local.dropFirst(11).prefix(8)) \(sign)\(String(format: "%02d:%02d", minutes / 60, minutes % 60))"
    }
}
