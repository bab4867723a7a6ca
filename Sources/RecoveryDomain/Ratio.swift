/// An exact quotient of two integers, for rates and means in reports: kept as
/// integers, written as a decimal without ever passing through a float.
public struct Ratio: Sendable, Equatable {
    public var numerator: Int64
    public var denominator: Int64

    public init(_ numerator: Int64, _ denominator: Int64) {
        self.numerator = numerator
        self.denominator = denominator
    }

    /// `nil` when the denominator is zero (no data: the rate is undefined).
    /// Otherwise the quotient rounded half away from zero to `digits` decimals.
    public func decimal(digits: Int) -> String? {
        guard denominator != 0 else { return nil }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let negative = (numerator < 0) != (denominator < 0)
        let n = numerator.magnitude * UInt64(scale)
        let d = denominator.magnitude
        let rounded = (n + d / 2) / d
        let whole = rounded / UInt64(scale)
        let fraction = String(rounded % UInt64(scale))
        let sign = negative && rounded != 0 ? "-" : ""
        guard digits > 0 else { return "\(sign)\(whole)" }
        return "\(sign)\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
    }
}
