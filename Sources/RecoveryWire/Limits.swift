import RecoveryDomain

/// Every limit of the line protocol, named, with its default (docs/PROTOCOL.md).
/// The `HELLO` answer advertises them so clients can check locally.
public struct Limits: Sendable, Equatable {
    /// Longest request line in bytes, without its LF. A longer one is answered
    /// `ERR too_large` and discarded as it arrives, never held whole.
    public var maxLine: Int = 65_536
    /// Requests read from one connection and not yet answered. At the limit
    /// the server stops reading that connection until answers drain (TCP
    /// back-pressure); nothing is dropped.
    public var maxPending: Int = 1_024
    /// Bytes written to one connection and not yet taken by its socket. Past
    /// it the connection is not writable: the server stops reading from it and
    /// starts no new work for it (a stream asks for no next page) until the
    /// client reads. Output can pass it by at most one answer or one page.
    public var maxOutput: Int = 262_144
    /// Events queued for one subscriber and not yet written to its socket.
    /// Past it: `ERR slow_consumer <last position sent>` and the connection closes.
    public var subscriberBuffer: Int = 10_000
    /// Seconds a connection may stay silent (no request, nothing streaming to it)
    /// before it is closed.
    public var idleTimeout: Int = 300
    /// Seconds a connection may stay without a successful `HELLO`.
    public var helloTimeout: Int = 10
    /// Seconds output may wait for a client that does not read: a stream then
    /// ends with `ERR slow_consumer <last position sent>`, any other
    /// connection with `ERR timeout`, and the connection closes.
    public var writeTimeout: Int = 30
    /// Failed `HELLO`s on one connection; the last one closes it.
    public var maxFailedHellos: Int = 3
    /// Connections served at once; one more is answered `ERR unavailable` and closed.
    public var maxConnections: Int = 1_024
    /// Connections that have not said a good `HELLO` yet, across all peers.
    /// When a new one comes and the pool is full, the oldest of them is
    /// closed to make room: no one without a token can lock others out.
    public var maxUnauthenticated: Int = 128
    /// Connections from one peer address that have not said a good `HELLO`
    /// yet; one more from that peer is refused and closed at once.
    public var maxUnauthenticatedPerPeer: Int = 8
    /// Connections from one peer address at once.
    public var maxConnectionsPerPeer: Int = 256
    /// Appends the writer decides and commits in one transaction at most.
    public var maxBatch: Int = 1_000
    /// Appends waiting for the writer, across all connections. At the limit
    /// connections stop sending appends to it and stop reading until it drains.
    public var maxQueue: Int = 10_000
    /// Events one `at=<position>` answer may fold again (the events, up to
    /// that position, of the rows changed since). Past it: `ERR too_large`.
    public var maxAtEvents: Int = 1_000_000
    /// MiB the writer's working set (cases, customers, budget days) may hold
    /// before what the projection tables hold is dropped from memory; a
    /// dropped row is read again when an append needs it (docs/STORE.md).
    public var stateCacheMib: Int = LedgerState.defaultCacheBytes >> 20

    public init() {}

    /// The limits by their wire names, as `HELLO` advertises them and the
    /// command line checks them.
    public var named: [(name: String, value: Int)] {
        [
            ("max_line", maxLine), ("max_pending", maxPending), ("max_output", maxOutput),
            ("subscriber_buffer", subscriberBuffer), ("idle_timeout", idleTimeout), ("hello_timeout", helloTimeout),
            ("write_timeout", writeTimeout), ("max_failed_hellos", maxFailedHellos), ("max_connections", maxConnections),
            ("max_unauthenticated", maxUnauthenticated), ("max_unauthenticated_per_peer", maxUnauthenticatedPerPeer),
            ("max_connections_per_peer", maxConnectionsPerPeer),
            ("max_batch", maxBatch), ("max_queue", maxQueue), ("max_at_events", maxAtEvents), ("state_cache_mib", stateCacheMib),
        ]
    }
}
