import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import RecoveryDomain

/// What a connection's handler asks of the rest of the server: admission
/// under the connection limits, tokens, the writer, queries, pages of the log
/// and the live feed of committed events. ``ServerContext`` is the real one;
/// handler tests use a scripted one.
package protocol SessionBackend: AnyObject, Sendable {
    var limits: Limits { get }
    var logger: Logger { get }
    /// Says which refused connections to log (a flood must not flood the log).
    var refusalLog: RefusalLog { get }

    /// Registers a connection from `peer`; the refusal when a limit is reached.
    /// `end` is called (from any thread) when the server shuts down, again
    /// when its grace is over, and when the connection's token is revoked.
    func admit(_ connection: ObjectIdentifier, peer: String, end: @escaping @Sendable (ConnectionEnding) -> Void) -> ProtocolError?
    func authenticated(_ connection: ObjectIdentifier)
    func release(_ connection: ObjectIdentifier)

    /// The token file's entry for `token`, with the full `HELLO` answer; nil
    /// for an unknown token. A known token is remembered as the connection's.
    func hello(_ connection: ObjectIdentifier, token: String) -> (token: TokenFile.Entry, answer: Response)?
    /// Hands an append to the writer; `answer` is called once: on `loop` when
    /// one is given (a batch's answers reach each loop as one task), else
    /// from any thread. False when the writer's queue is full: nothing was taken.
    /// `agent`: the person the connection's token is bound to, if it is.
    func submitAppend(
        json: [UInt8], role: ClientRole, agent: String?, on loop: (any EventLoop)?, answer: @escaping @Sendable (AppendAnswer) -> Void
    ) -> Bool
    /// Calls `room` once (from any thread) as soon as the writer's queue has room.
    func whenWriterHasRoom(_ room: @escaping @Sendable () -> Void)
    func query(_ request: Request, role: ClientRole, on eventLoop: EventLoop) -> EventLoopFuture<[Response]>
    func openReplay(from: Int64, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<SessionStateMachine.ReplayWindow>
    func readPage(from: Int64, through: Int64?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[StoredEvent]>
    /// The next page of a `REPLAY`: `replay` carries what its reads keep from
    /// one page to the next (``ServerContext``: one streamed query for the
    /// whole window). The handler ends it when the connection closes.
    func readReplayPage(_ replay: ReplayReads, from: Int64, through: Int64, limit: Int, on eventLoop: EventLoop)
        -> EventLoopFuture<[StoredEvent]>
    /// Starts calling `deliver` with every batch of committed events, in commit order.
    func join(_ subscriber: ObjectIdentifier, deliver: @escaping @Sendable ([StoredEvent]) -> Void)
    func leave(_ subscriber: ObjectIdentifier)
    /// A stream was cut off with `ERR slow_consumer` (counted for metrics).
    func slowConsumerClosed()
}

extension SessionBackend {
    package func slowConsumerClosed() {}

    /// A page query per page.
    package func readReplayPage(_ replay: ReplayReads, from: Int64, through: Int64, limit: Int, on eventLoop: EventLoop)
        -> EventLoopFuture<[StoredEvent]>
    {
        readPage(from: from, through: through, limit: limit, on: eventLoop)
    }
}
