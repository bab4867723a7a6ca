import Foundation

/// A point in time with microsecond precision, parsed from and written as
/// RFC 3339. Pure arithmetic: no formatter, no locale.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }

    public init(_ date: Date) {
        microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded(.down))
    }

    public var seconds: Int64 { microseconds.floorDivided(by: 1_000_000) }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.microseconds < rhs.microseconds }

    /// RFC 3339 in UTC with exactly six fractional digits, e.g.
    /// `2026-11-22T09:15:00.000000Z` — the form of `recorded_at`.
    public var description: String {
        let secs = seconds
        let micros = microseconds - secs * 1_000_000
        let day = BusinessDay(daysSinceEpoch: secs.floorDivided(by: 86_400))
        let secondOfDay = secs - day.daysSinceEpoch * 86_400
        // Written as bytes: this is on every append's path (recorded_at, the case rows' times).
        var text: [UInt8] = []
        text.reserveCapacity(27)
        day.write(into: &text)
        text.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, 2, to: &text)
        text.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, 2, to: &text)
        text.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, 2, to: &text)
        text.append(UInt8(ascii: "."))
        appendDigits(micros, 6, to: &text)
        text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, `T` or `t` or a
    /// space, `Z` or `z`); fractions beyond microseconds are truncated.
    public init?(rfc3339 text: String) {
        var text = text
        guard let microseconds = text.withUTF8({ Self.microseconds(rfc3339: $0) }) else { return nil }
        self.microseconds = microseconds
    }

    /// Parses RFC 3339 from its UTF-8 bytes, as ``init(rfc3339:)-(String)`` does.
    public init?(rfc3339 bytes: UnsafeBufferPointer<UInt8>) {
        guard let microseconds = Self.microseconds(rfc3339: bytes) else { return nil }
        self.microseconds = microseconds
    }

    /// Microseconds since the epoch that the RFC 3339 text `b` names, or nil.
    private static func microseconds(rfc3339 b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count >= 20 else { return nil }
        func number(_ range: Range<Int>) -> Int64? { decimal(b, range) }
        guard let year = number(0..<4), b[4] == UInt8(ascii: "-"), let month = number(5..<7),
            b[7] == UInt8(ascii: "-"), let dayOfMonth = number(8..<10),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
            let hour = number(11..<13), b[13] == UInt8(ascii: ":"), let minute = number(14..<16),
            b[16] == UInt8(ascii: ":"), let second = number(17..<19)
        else { return nil }
        guard let day = BusinessDay(year: Int(year), month: Int(month), day: Int(dayOfMonth)),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var index = 19
        var micros: Int64 = 0
        if b[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[index]) {
                if index - start < 6 { micros = micros * 10 + Int64(b[index] - UInt8(ascii: "0")) }
                index += 1
            }
            guard index > start else { return nil }
            for _ in min(index - start, 6)..<6 { micros *= 10 }
        }
        guard index < b.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == b.count, let oh = number(index + 1..<index + 3), b[index + 3] == UInt8(ascii: ":"),
                let om = number(index + 4..<index + 6), oh < 24, om < 60
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let local = day.daysSinceEpoch * 86_400 + hour * 3600 + minute * 60 + second
        return (local - offsetSeconds) * 1_000_000 + micros
    }
}

/// The decimal number the digits `b[range]` spell; nil unless every byte there is a digit.
private func decimal(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int64? {
    var value: Int64 = 0
    for i in range {
        guard i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else { return nil }
        value = value * 10 + Int64(b[i] - UInt8(ascii: "0"))
    }
    return value
}

/// `value` in decimal, zero-padded to at least `width` digits (a sign first
/// if negative, which no valid ledger time has).
private func appendDigits(_ value: Int64, _ width: Int, to text: inout [UInt8]) {
    guard value >= 0 else {
        text.append(UInt8(ascii: "-"))
        return appendDigits(value == .min ? .max : -value, width, to: &text)
    }
    var digits = 1
    var power: Int64 = 10
    while digits < 19 && value >= power {
        digits += 1
        power *= 10
    }
    var remaining = value
    let start = text.count
    let count = max(width, digits)
    text.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: count))
    var index = start + count - 1
    while remaining > 0 {
        text[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
        remaining /= 10
        index -= 1
    }
}

extension Int64 {
    /// Division rounding towards negative infinity.
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

/// A calendar date (proleptic Gregorian), used as the ledger's business day:
/// the date in the ledger's time zone at which something was recorded.
public struct BusinessDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Days since 1970-01-01.
    public let daysSinceEpoch: Int64

    public init(daysSinceEpoch: Int64) { self.daysSinceEpoch = daysSinceEpoch }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month),
            (1...BusinessDay.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = y.floorDivided(by: 400)
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        daysSinceEpoch = era * 146_097 + doe - 719_468
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        var text = text
        guard let day = text.withUTF8(BusinessDay.init(iso:)) else { return nil }
        self = day
    }

    /// Parses `YYYY-MM-DD` from its UTF-8 bytes.
    public init?(iso b: UnsafeBufferPointer<UInt8>) {
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        guard let y = decimal(b, 0..<4), let m = decimal(b, 5..<7), let d = decimal(b, 8..<10) else { return nil }
        self.init(year: Int(y), month: Int(m), day: Int(d))
    }

    /// The business day of `timestamp` in `timeZone` (its offset at that instant,
    /// so daylight-saving changes are honoured).
    public init(_ timestamp: Timestamp, in timeZone: TimeZone) {
        let offset = Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(timestamp.seconds))))
        daysSinceEpoch = (timestamp.seconds + offset).floorDivided(by: 86_400)
    }

    public var civil: (year: Int, month: Int, day: Int) {
        // Howard Hinnant's civil_from_days.
        let z = daysSinceEpoch + 719_468
        let era = z.floorDivided(by: 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (Int(yoe + era * 400 + (m <= 2 ? 1 : 0)), Int(m), Int(d))
    }

    public func adding(days: Int64) -> BusinessDay { BusinessDay(daysSinceEpoch: daysSinceEpoch + days) }

    /// The Monday of this day's week (ISO 8601 weeks start on Monday; 1970-01-01 was a Thursday).
    public var weekStart: BusinessDay {
        let sinceMonday = (daysSinceEpoch + 3) - (daysSinceEpoch + 3).floorDivided(by: 7) * 7
        return adding(days: -sinceMonday)
    }

    /// The first instant of this day in `timeZone`: local midnight, with the
    /// offset in force then (a day may be 23 or 25 hours long).
    public func start(in timeZone: TimeZone) -> Timestamp {
        let local = daysSinceEpoch * 86_400
        func offset(at seconds: Int64) -> Int64 { Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(seconds)))) }
        let first = local - offset(at: local)
        return Timestamp(microseconds: (local - offset(at: first)) * 1_000_000)
    }

    /// The last instant (microsecond) of this day in `timeZone`.
    public func end(in timeZone: TimeZone) -> Timestamp {
        Timestamp(microseconds: adding(days: 1).start(in: timeZone).microseconds - 1)
    }

    public var description: String {
        var text: [UInt8] = []
        text.reserveCapacity(10)
        write(into: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// `YYYY-MM-DD` as bytes.
    func write(into text: inout [UInt8]) {
        let (y, m, d) = civil
        appendDigits(Int64(y), 4, to: &text)
        text.append(UInt8(ascii: "-"))
        appendDigits(Int64(m), 2, to: &text)
        text.append(UInt8(ascii: "-"))
        appendDigits(Int64(d), 2, to: &text)
    }

    public static func < (lhs: BusinessDay, rhs: BusinessDay) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
