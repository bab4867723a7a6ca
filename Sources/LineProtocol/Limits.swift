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
    /// Events queued for one subscriber and not yet written to its socket.
    /// Past it: `ERR slow_consumer <last position sent>` and the connection closes.
    public var subscriberBuffer: Int = 10_000
    /// Seconds a connection may stay silent (no request, nothing streaming to it)
    /// before it is closed.
    public var idleTimeout: Int = 300
    /// Connections served at once; one more is answered `ERR unavailable` and closed.
    public var maxConnections: Int = 1_024
    /// Appends the writer decides and commits in one transaction at most.
    public var maxBatch: Int = 1_000

    public init() {}
}
