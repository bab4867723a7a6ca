/// Money in the ledger: an integer number of minor units (cents) and an ISO 4217
/// currency code. Never a float.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    /// Largest single amount or daily limit accepted (10,000,000,000.00 in a
    /// two-decimal currency), so that sums over a ledger's lifetime stay far
    /// inside 64 bits.
    public static let maximumAmount: Int64 = 1_000_000_000_000

    public var minorUnits: Int64
    public var currency: String

    public init(minorUnits: Int64, currency: String) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// True for three uppercase ASCII letters.
    public static func isCurrencyCode(_ text: String) -> Bool {
        text.utf8.count == 3 && text.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    static func isCurrencyCode(_ utf8: UnsafeBufferPointer<UInt8>) -> Bool {
        utf8.count == 3 && utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    /// `1234.56 USD` for people: minor units shown with two decimals.
    public var description: String { "\(Money.decimal(minorUnits)) \(currency)" }

    /// Minor units written with two decimals, exactly (no floating point).
    public static func decimal(_ minorUnits: Int64) -> String {
        let sign = minorUnits < 0 ? "-" : ""
        let magnitude = minorUnits.magnitude
        let cents = magnitude % 100
        return "\(sign)\(magnitude / 100).\(cents < 10 ? "0" : "")\(cents)"
    }
}
