/// A case's recovery outcome (docs/EVENTS.md, "Outcome of a case").
public enum Outcome: String, Sendable, CaseIterable, Comparable {
    /// No resolved follow-up and no defection yet.
    case open
    /// Resolved, and the customer is more satisfied than before the failure.
    case paradox
    /// Resolved, exactly as satisfied as before.
    case restored
    /// Resolved, less satisfied than before.
    case unrecovered
    /// Resolved without a baseline to compare with.
    case unmeasured
    /// The customer left.
    case defected

    public static func < (lhs: Outcome, rhs: Outcome) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// The MAMA steps a case has reached: **M**ake time to listen (a complaint),
/// **A**cknowledge (an apology), **M**eet the need (a compensation or a resolved
/// follow-up), **A**ct with follow-up (any follow-up).
public struct MAMASteps: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let listened = MAMASteps(rawValue: 1)
    public static let acknowledged = MAMASteps(rawValue: 2)
    public static let met = MAMASteps(rawValue: 4)
    public static let followedUp = MAMASteps(rawValue: 8)
    public static let all: MAMASteps = [.listened, .acknowledged, .met, .followedUp]

    public var isComplete: Bool { self == .all }

    /// The names of the steps reached joined by commas, in MAMA order (one
    /// of sixteen strings made once: this goes out with every case row written).
    public var commaSeparated: String { Self.joined[rawValue & 15] }

    private static let joined: [String] = (0..<16).map { MAMASteps(rawValue: $0).names.joined(separator: ",") }

    /// Names of the steps reached, in MAMA order.
    public var names: [String] {
        [(MAMASteps.listened, "listened"), (.acknowledged, "acknowledged"), (.met, "met"), (.followedUp, "followed_up")]
            .filter { contains($0.0) }.map(\.1)
    }
}
