import LineProtocol
import RecoveryWire
import Logging
import NIOCore
import NIOSSL
import RecoveryDomain

/// The shell around a connection's ``SessionStateMachine``: it turns channel
/// events and the results of work into the machine's inputs, and carries out
/// the actions it returns in one place, ``run(_:)``. Everything here runs on
/// the channel's event loop; other threads hand results back with
/// `eventLoop.execute` (through `NIOLoopBound`) and never touch the socket.
///
/// Inputs that arrive while actions are being carried out (a query answered
/// at once, writability changing during a write) wait in a small inbox and are
/// handled right after, so the machine is never re-entered.
package final class SessionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = LineFrame
    package typealias OutboundIn = ByteBuffer
    package typealias OutboundOut = ByteBuffer

    private let backend: SessionBackend
    private var machine: SessionStateMachine
    private var context: ChannelHandlerContext?
    private var inbox: [SessionStateMachine.Input] = []
    private var handling = false
    private var readPaused = false
    private var readHeld = false
    private var timers: [SessionStateMachine.Timer: Scheduled<Void>] = [:]
    /// The writer refused an append for lack of room: every later append is
    /// held back too (so a connection's appends keep their order) until the
    /// writer says it has room.
    private var writerRefused = false
    private var joined = false
    /// The reads of the connection's `REPLAY`, kept from its first page to its end.
    private var replay: (id: SessionStateMachine.RequestID, reads: ReplayReads)?
    private var registered = false
    /// Answers are written at once and flushed together: a flush is queued
    /// on the loop behind the answers the writer handed over with it.
    private var flushQueued = false
    private var peer = "unknown"
    /// The person this connection's token is bound to, if it is.
    private var agent: String?

    /// How long a closing connection still reads (and drops) after its FIN.
    static let linger = TimeAmount.milliseconds(500)

    package init(backend: SessionBackend) {
        self.backend = backend
        machine = SessionStateMachine(limits: backend.limits)
    }

    private var id: ObjectIdentifier { ObjectIdentifier(self) }

    // MARK: Channel events

    package func channelActive(context: ChannelHandlerContext) {
        self.context = context
        peer = context.channel.remoteAddress?.ipAddress ?? context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        let refusal = backend.admit(id, peer: peer) { ending in
            loop.execute {
                switch ending {
                case .drain: bound.value.deliver(.shutdown)
                case .now: bound.value.deliver(.shutdownNow)
                case .revoked:
                    bound.value.backend.logger.notice("closing a connection whose token was revoked", metadata: ["peer": "\(bound.value.peer)"])
                    bound.value.agent = nil
                    bound.value.deliver(.revoked)
                case .evicted:
                    bound.value.backend.logger.notice(
                        "closing the oldest connection waiting for HELLO to make room", metadata: ["peer": "\(bound.value.peer)"])
                    bound.value.deliver(.evicted)
                }
            }
        }
        registered = refusal == nil
        if let refusal, let suppressed = backend.refusalLog.shouldLog(peer: peer) {
            var metadata: Logger.Metadata = ["peer": "\(peer)", "reason": "\(refusal.message)"]
            if suppressed > 0 { metadata["refused_since_last_line"] = "\(suppressed)" }
            backend.logger.warning("connection refused", metadata: metadata)
        }
        deliver(.connected(refusal: refusal))
        context.fireChannelActive()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        deliver(.channelClosed)
        replay?.reads.end()
        replay = nil
        if joined { backend.leave(id) }
        joined = false
        for (_, timer) in timers { timer.cancel() }
        timers = [:]
        if registered { backend.release(id) }
        registered = false
        context.fireChannelInactive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deliver(.frame(unwrapInboundIn(data)))
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        deliver(.writabilityChanged(context.channel.isWritable))
        context.fireChannelWritabilityChanged()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            deliver(.idle)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    package func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is NIOSSLError || error is BoringSSLError {
            backend.logger.warning("TLS handshake or record failed; closing", metadata: ["peer": "\(peer)", "error": "\(error)"])
        } else {
            backend.logger.debug("connection error", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
        context.close(promise: nil)
    }

    /// Reading is paused by holding the channel's `read` until the machine resumes it.
    package func read(context: ChannelHandlerContext) {
        if readPaused {
            readHeld = true
        } else {
            context.read()
        }
    }

    // MARK: The machine

    /// Hands one input to the machine and carries out what it decides. The
    /// machine is the connection's loop's alone.
    func deliver(_ input: SessionStateMachine.Input) {
        context?.eventLoop.preconditionInEventLoop()
        inbox.append(input)
        guard !handling else { return }
        handling = true
        defer { handling = false }
        var next = 0
        while next < inbox.count {
            let input = inbox[next]
            next += 1
            if case .writerHasRoom = input { writerRefused = false }
            for action in machine.handle(input) { run(action) }
        }
        inbox.removeAll(keepingCapacity: true)
    }

    private func run(_ action: SessionStateMachine.Action) {
        guard let context else { return }
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        switch action {
        case .write(let lines):
            var buffer = context.channel.allocator.buffer(capacity: 256)
            for line in lines { buffer.writeAnswer(line) }
            context.write(wrapOutboundOut(buffer), promise: nil)
            if !flushQueued {
                flushQueued = true
                loop.execute {
                    bound.value.flushQueued = false
                    bound.value.context?.flush()
                }
            }
        case .checkHello(let id, let token):
            let granted = backend.hello(self.id, token: token)
            if let granted { agent = granted.token.agent }
            deliver(.helloChecked(id, granted: granted.map { ($0.token.role, $0.answer) }))
        case .submitAppend(let id, let json, let role):
            guard !writerRefused else { return deliver(.appendDeferred(id)) }
            let taken = backend.submitAppend(json: json, role: role, agent: agent, on: loop) { answer in
                bound.value.deliver(.appendAnswered(id, Self.response(answer)))
            }
            if !taken {
                writerRefused = true
                deliver(.appendDeferred(id))
                backend.whenWriterHasRoom { loop.execute { bound.value.deliver(.writerHasRoom) } }
            }
        case .runQuery(let id, let request, let role):
            backend.query(request, role: role, on: loop).whenComplete { result in
                bound.value.deliver(.queryAnswered(id, Self.responses(result)))
            }
        case .openReplay(let id, let from, let to):
            backend.openReplay(from: from, to: to, on: loop).whenComplete { result in
                bound.value.deliver(.replayOpened(id, result.mapError(Self.protocolError)))
            }
        case .readPage(let id, let from, .some(let through)):
            // A bounded page is a REPLAY's: its reads go on from page to page.
            if replay?.id != id {
                replay?.reads.end()
                replay = (id, ReplayReads())
            }
            backend.readReplayPage(replay!.reads, from: from, through: through, limit: SessionStateMachine.pageSize, on: loop)
                .whenComplete { result in bound.value.deliver(.pageRead(id, result.mapError(Self.protocolError))) }
        case .readPage(let id, let from, let through):
            backend.readPage(from: from, through: through, limit: SessionStateMachine.pageSize, on: loop).whenComplete { result in
                bound.value.deliver(.pageRead(id, result.mapError(Self.protocolError)))
            }
        case .joinHub:
            joined = true
            backend.join(id) { events in loop.execute { bound.value.deliver(.eventsCommitted(events)) } }
        case .leaveHub:
            if joined { backend.leave(id) }
            joined = false
        case .pauseReading:
            readPaused = true
        case .resumeReading:
            resumeReading(context)
        case .schedule(let timer, let seconds):
            timers[timer]?.cancel()
            timers[timer] = loop.scheduleTask(in: .seconds(Int64(seconds))) { bound.value.deliver(.timerFired(timer)) }
        case .cancel(let timer):
            timers.removeValue(forKey: timer)?.cancel()
        case .authenticated(let role):
            backend.authenticated(id)
            backend.logger.debug("connection authenticated", metadata: ["peer": "\(peer)", "role": "\(role.rawValue)"])
        case .failedHello(let count):
            backend.logger.warning("HELLO with an unknown token", metadata: ["peer": "\(peer)", "failures": "\(count)"])
        case .slowConsumer(let last):
            backend.slowConsumerClosed()
            backend.logger.warning("slow consumer cut off", metadata: ["peer": "\(peer)", "last": "\(last)"])
        case .close(let flushFirst):
            let channel = context.channel
            guard flushFirst else {
                // What was written goes to the socket if it takes it now; the close does not wait.
                context.flush()
                context.close(promise: nil)
                return
            }
            // Once everything written has gone out (or after write_timeout if
            // the client never reads it), send FIN, and go on reading and
            // dropping for a moment before the full close: input left unread
            // at close makes the kernel reset the connection, and a reset can
            // destroy answers the client has not read yet.
            resumeReading(context)
            let deadline = loop.scheduleTask(in: .seconds(Int64(backend.limits.writeTimeout))) { channel.close(promise: nil) }
            context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
                deadline.cancel()
                channel.close(mode: .output).whenComplete { result in
                    guard case .success = result else { return channel.close(promise: nil) }
                    _ = channel.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
                }
            }
        }
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        readPaused = false
        if readHeld {
            readHeld = false
            context.read()
        }
    }

    private static func response(_ answer: AppendAnswer) -> Response {
        switch answer {
        case .recorded(let position, let hash, let duplicate, let spending):
            .receipt(position: position, hash: hash, duplicate: duplicate, spending: spending)
        case .refused(let error):
            .error(error)
        }
    }

    private static func responses(_ result: Result<[Response], Error>) -> [Response] {
        switch result {
        case .success(let responses): responses
        case .failure(let error): [.error(protocolError(error))]
        }
    }

    /// The backend fails its futures with ``ProtocolError``s; anything else is a bug.
    static func protocolError(_ error: Error) -> ProtocolError {
        (error as? ProtocolError) ?? ProtocolError(.internalError, "\(error)")
    }
}

extension ByteBuffer {
    /// One answer line; an `EVENT`'s payload is copied byte for byte.
    mutating func writeAnswer(_ response: Response) {
        switch response {
        case .event(let payload):
            writeEventLine(payload)
        default:
            writeBytes(response.encoded())
        }
    }

    /// `EVENT <payload>` and LF, the payload byte for byte.
    mutating func writeEventLine(_ payload: [UInt8]) {
        writeStaticString("EVENT ")
        writeBytes(payload)
        writeInteger(UInt8(0x0A))
    }
}
