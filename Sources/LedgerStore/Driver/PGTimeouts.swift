/// The deadlines of every wait on PostgreSQL (docs/OPERATIONS.md, "Bounds on
/// waiting for PostgreSQL"). No libpq call waits longer than one of these.
public struct PGTimeouts: Sendable, Equatable {
    /// Connecting, over every host of a multi-host list.
    public var connect: Duration = .seconds(10)
    /// One statement or COPY; for `COPY … TO STDOUT`, each wait for more rows.
    public var statement: Duration = .seconds(30)
    /// One `COMMIT`, which may wait for a synchronous standby. Past it the
    /// outcome is unknown: the appends of the batch are answered
    /// `ERR unavailable` and the writer starts again from the tables.
    public var commit: Duration = .seconds(5)

    public init(connect: Duration = .seconds(10), statement: Duration = .seconds(30), commit: Duration = .seconds(5)) {
        self.connect = connect
        self.statement = statement
        self.commit = commit
    }

    /// For maintenance that may rewrite whole tables (schema migrations,
    /// `rebuild --write`): still bounded, by an hour per statement.
    public static let maintenance = PGTimeouts(connect: .seconds(10), statement: .seconds(3_600), commit: .seconds(3_600))

    /// libpq settings added in front of every conninfo (which may override
    /// them): TCP keepalives that notice a dead peer within about 25 s, and
    /// `tcp_user_timeout` that fails a send nobody acknowledges for 20 s.
    public static let socketDefaults: [(key: String, value: String)] = [
        ("keepalives", "1"), ("keepalives_idle", "10"), ("keepalives_interval", "5"), ("keepalives_count", "3"),
        ("tcp_user_timeout", "20000"),
    ]
}
