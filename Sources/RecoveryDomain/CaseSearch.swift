/// What `CASES` asks for (docs/PROTOCOL.md): filters, every one optional,
/// and a page — at most `limit` cases, newest first, after the case `after`.
public struct CaseSearch: Sendable, Equatable {
    public static let defaultLimit = 50
    public static let maximumLimit = 500

    public var customerID: String?
    public var owner: String?
    public var status: CaseState.Status?
    /// The complaint's recorded business day, from and to (inclusive).
    public var from: BusinessDay?
    public var to: BusinessDay?
    /// Continue after this case (the last one of the previous page).
    public var after: String?
    public var limit = CaseSearch.defaultLimit

    public init() {}
}
