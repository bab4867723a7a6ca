import LineProtocol
import Logging
import NIOCore
import RecoveryDomain

/// What a connection's handler asks of the rest of the server: admission
/// under the connection limits, tokens, the writer, queries, pages of the log
/// and the live feed of committed events. ``ServerContext`` is the real one;
/// handler tests use a scripted one.
protocol SessionBackend: AnyObject, Sendable {
    var limits: Limits { get }
    var logger: Logger { get }

    /// Registers a connection from `peer`; the refusal when a limit is reached.
    /// `drain` is called (from any thread) when the server shuts down, and
    /// again with `now` when its grace is over.
    func admit(_ connection: ObjectIdentifier, peer: String, drain: @escaping @Sendable (_ now: Bool) -> Void) -> ProtocolError?
    func authenticated(_ connection: ObjectIdentifier)
    func release(_ connection: ObjectIdentifier)

    /// The role bound to `token`, with the full `HELLO` answer; nil for an unknown token.
    func hello(token: String) -> (role: ClientRole, answer: Response)?
    /// Hands an append to the writer; `answer` is called once, from any thread
    /// (the writer's: turning it into a line is left to the connection's loop).
    /// False when the writer's queue is full: nothing was taken.
    func submitAppend(json: [UInt8], role: ClientRole, answer: @escaping @Sendable (AppendAnswer) -> Void) -> Bool
    /// Calls `room` once (from any thread) as soon as the writer's queue has room.
    func whenWriterHasRoom(_ room: @escaping @Sendable () -> Void)
    func query(_ request: Request, role: ClientRole, on eventLoop: EventLoop) -> EventLoopFuture<[Response]>
    func openReplay(from: Int64, to: Int64?, on eventLoop: EventLoop) -> EventLoopFuture<SessionStateMachine.ReplayWindow>
    func readPage(from: Int64, through: Int64?, limit: Int, on eventLoop: EventLoop) -> EventLoopFuture<[StoredEvent]>
    /// Starts calling `deliver` with every batch of committed events, in commit order.
    func join(_ subscriber: ObjectIdentifier, deliver: @escaping @Sendable ([StoredEvent]) -> Void)
    func leave(_ subscriber: ObjectIdentifier)
}
