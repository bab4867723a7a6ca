/// A failure of the store: what kind (a ``Code`` that can grow without breaking
/// callers), the server's SQLSTATE when PostgreSQL reported one, and a message.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        /// Could not connect, or the connection was lost.
        public static let connection = Code(name: "connection")
        /// PostgreSQL refused a statement (see ``StoreError/sqlState``).
        public static let server = Code(name: "server")
        /// Another writer holds the ledger's advisory lock.
        public static let writerLocked = Code(name: "writer_locked")
        /// The batch does not continue the chain (positions out of order).
        public static let outOfOrder = Code(name: "out_of_order")
        /// What is stored is not what the store wrote (bad bytea, bad row).
        public static let corrupt = Code(name: "corrupt")
        /// A wait on PostgreSQL passed its deadline (``PGTimeouts``); the
        /// connection was dropped.
        public static let timeout = Code(name: "timeout")
        /// A COMMIT's outcome is unknown: it passed its deadline, lost its
        /// connection, or returned with a warning. The transaction may exist.
        public static let commitUnknown = Code(name: "commit_unknown")
        /// A migration is recorded that this build does not know.
        public static let unknownMigration = Code(name: "unknown_migration")
    }

    public var code: Code
    /// The five-character SQLSTATE, e.g. `23505` for a unique violation.
    public var sqlState: String?
    public var message: String

    public init(_ code: Code, sqlState: String? = nil, _ message: String) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
    }

    public var description: String {
        sqlState.map { "\(code) (SQLSTATE \($0)): \(message)" } ?? "\(code): \(message)"
    }

    /// True when PostgreSQL refused a value: SQLSTATE class 22 (data
    /// exception) or 23 (integrity constraint violation). The transaction was
    /// rolled back; the connection is fine.
    public var isDataError: Bool {
        code == .server && (sqlState?.hasPrefix("22") == true || sqlState?.hasPrefix("23") == true)
    }

    /// True for a unique-constraint violation.
    public var isUniqueViolation: Bool { sqlState == "23505" }
}
