import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import RecoveryWire

/// A client connection to recoveryd's line protocol, on SwiftNIO for plain
/// TCP and TLS alike: request lines out, answer lines in, framed by the
/// server's own ``LineFrameDecoder``. What it holds unread is bounded: NIO
/// reads from the socket only while fewer than ``maximumBufferedLines``
/// lines wait, and no line may pass ``maximumLine`` bytes. A read waits at
/// most `timeoutSeconds`. An actor: one task at a time talks on it.
public actor LineConnection {
    /// The longest answer line read (a `CASE` with many events, a year of `OUTCOMES by=day`).
    public static let maximumLine = 64 * 1024 * 1024
    /// Lines held before NIO stops reading from the socket.
    public static let maximumBufferedLines = 1_024

    private let channel: Channel
    private let inbox: NIOLoopBound<LineInbox>
    private let timeoutSeconds: Int
    private let host: String
    private let port: Int

    /// Connects to `host:port` (a name or an address; IPv4 or IPv6); with
    /// `tls`, speaks TLS, its handshake done before this returns.
    public init(host: String = "127.0.0.1", port: Int, timeoutSeconds: Int = 30, tls: ClientTLS? = nil) async throws {
        self.host = host
        self.port = port
        self.timeoutSeconds = timeoutSeconds
        let context = try tls.map { try $0.context() }
        let serverName = tls?.serverName ?? host
        let hostname = serverName.first?.isNumber == true || serverName.contains(":") ? nil : serverName
        let timeout = TimeAmount.seconds(Int64(timeoutSeconds))
        let connected: (Channel, NIOLoopBound<LineInbox>, EventLoopFuture<Void>)
        do {
            connected = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                // The inbox asks for each read: the socket is read only while there is room.
                .channelOption(ChannelOptions.autoRead, value: false)
                .connectTimeout(timeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        var handshake = channel.eventLoop.makeSucceededVoidFuture()
                        if let context {
                            let watch = HandshakeWatch(promise: channel.eventLoop.makePromise(), timeout: timeout)
                            handshake = watch.promise.futureResult
                            try pipeline.addHandler(NIOSSLClientHandler(context: context, serverHostname: hostname))
                            try pipeline.addHandler(watch)
                        }
                        let inbox = LineInbox(limit: Self.maximumBufferedLines)
                        try pipeline.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLine: Self.maximumLine)))
                        try pipeline.addHandler(inbox)
                        return (channel, NIOLoopBound(inbox, eventLoop: channel.eventLoop), handshake)
                    }
                }
        } catch {
            throw ClientError("cannot connect to \(host):\(port): \(error)")
        }
        do {
            try await connected.2.get()
        } catch {
            try? await connected.0.close()
            throw ClientError("the TLS handshake with \(host):\(port) failed: \(error)")
        }
        (channel, inbox) = (connected.0, connected.1)
    }

    deinit { channel.close(promise: nil) }

    /// Closes the connection (at once; closing again does nothing).
    public nonisolated func close() { channel.close(promise: nil) }

    public func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) async throws {
        do {
            try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
        } catch {
            throw ClientError("send to \(host):\(port) failed: \(error)\(channel.isActive ? "" : " (the connection was closed)")")
        }
    }

    /// The next line's bytes without its LF; nil when the server closed.
    public func readLineBytes() async throws -> [UInt8]? {
        let (channel, inbox, timeout) = (self.channel, self.inbox, TimeAmount.seconds(Int64(timeoutSeconds)))
        let frame: LineFrame?
        do {
            frame = try await withCheckedThrowingContinuation { continuation in
                channel.eventLoop.execute { inbox.value.next(continuation, timeout: timeout) }
            }
        } catch is LineInbox.TimedOut {
            throw ClientError("no answer within \(timeoutSeconds) s")
        } catch {
            throw ClientError("receive from \(host):\(port) failed: \(error)")
        }
        switch frame {
        case .line(let bytes): return bytes
        case .tooLong: throw ClientError("an answer line longer than \(Self.maximumLine) bytes")
        case nil: return nil
        }
    }

    /// The next line as text; nil when the server closed.
    public func readLine() async throws -> String? { try await readLineBytes().map { String(decoding: $0, as: UTF8.self) } }

    /// Sends one request and returns its final line.
    public func request(_ line: String) async throws -> String {
        do {
            try await send(line + "\n")
        } catch {
            // A server that closed the connection said why first (a limit, a
            // timeout): that line is the answer, if it is there.
            if let goodbye = try? await readLine() { return goodbye }
            throw error
        }
        guard let answer = try await readLine() else { throw ClientError("the server closed the connection before answering") }
        return answer
    }

    /// Sends a streaming request (REPLAY); returns the EVENT payloads and the final line.
    public func stream(_ line: String) async throws -> (events: [String], final: String) {
        try await send(line + "\n")
        var events: [String] = []
        while let answer = try await readLine() {
            if answer.hasPrefix("EVENT ") {
                events.append(String(answer.dropFirst(6)))
            } else {
                return (events, answer)
            }
        }
        throw ClientError("the server closed the connection during \(line.prefix(40))")
    }

    /// Sends one request and reads its `OK` answer as `T`.
    public func call<T: WireReply>(_ request: String, as type: T.Type) async throws -> T {
        try Answer(await self.request(request)).decode(type)
    }
}

/// The lines read from a connection, handed to one waiting reader at a time.
/// It asks NIO for the next read only while fewer than `limit` lines wait,
/// so a server that sends faster than the client reads fills the socket's
/// buffers, not memory. Lives on the channel's event loop.
final class LineInbox: ChannelInboundHandler {
    typealias InboundIn = LineFrame

    private let limit: Int
    private var frames = CircularBuffer<LineFrame>()
    private var waiter: CheckedContinuation<LineFrame?, any Error>?
    /// Set when the connection ended: cleanly (nil error) or with an error.
    private var end: (any Error)??
    private var context: ChannelHandlerContext?
    private var reading = false
    /// The pending read's timeout.
    private var deadline: Scheduled<Void>?

    init(limit: Int) { self.limit = limit }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        readMore()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        frames.append(unwrapInboundIn(data))
        deliver()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        reading = false
        readMore()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if end == nil { end = .some(nil) }
        deliver()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if end == nil { end = .some(error) }
        deliver()
        context.close(promise: nil)
    }

    /// No line came within the read's timeout (the connection is then closed).
    struct TimedOut: Error {}

    /// Hands the next line (nil at the end) to `continuation`, now or when it
    /// comes; if none comes within `timeout`, fails it and closes the
    /// connection. The clock runs on the event loop, from when the line is
    /// asked for until it arrives: a reader slow to run again never counts.
    func next(_ continuation: CheckedContinuation<LineFrame?, any Error>, timeout: TimeAmount) {
        context?.eventLoop.preconditionInEventLoop()
        precondition(waiter == nil, "one reader at a time")
        waiter = continuation
        deliver()
        guard waiter != nil, let context else { return }
        readMore()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) { bound.value.timedOut() }
    }

    private func timedOut() {
        guard let waiter else { return }
        self.waiter = nil
        waiter.resume(throwing: TimedOut())
        context?.close(promise: nil)
    }

    private func readMore() {
        guard !reading, end == nil, frames.count < limit, let context else { return }
        reading = true
        context.read()
    }

    private func deliver() {
        guard let waiter else { return }
        if frames.isEmpty && end == nil { return }
        deadline?.cancel()
        deadline = nil
        if let frame = frames.popFirst() {
            self.waiter = nil
            waiter.resume(returning: frame)
        } else if let end {
            self.waiter = nil
            if let error = end { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }
}

/// Fulfils `promise` when the TLS handshake completes, or fails it with the
/// first error (a certificate the CA did not sign, a closed connection, no
/// handshake within `timeout`).
private final class HandshakeWatch: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let promise: EventLoopPromise<Void>
    private let timeout: TimeAmount
    private var done = false
    private var timer: Scheduled<Void>?

    init(promise: EventLoopPromise<Void>, timeout: TimeAmount) {
        self.promise = promise
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) { bound.value.finish(.failure(ClientError("no handshake within the timeout"))) }
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        promise.completeWith(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { finish(.success(())) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ClientError("the server closed the connection")))
        context.fireChannelInactive()
    }
}
