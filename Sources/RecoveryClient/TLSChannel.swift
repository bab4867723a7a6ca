import Foundation
import RecoveryWire
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// What a client needs to speak TLS to recoveryd (DESIGN.md §5, Transport):
/// the CA that signed the server's certificate and, for mutual TLS, its own
/// certificate and key (PEM files).
public struct ClientTLS: Sendable {
    public var caFile: String
    public var certificateFile: String?
    public var keyFile: String?
    /// The name the server's certificate must carry (default: the host connected to).
    public var serverName: String?

    public init(caFile: String, certificateFile: String? = nil, keyFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.serverName = serverName
    }

    func context() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            if let certificateFile, let keyFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } else if certificateFile != nil || keyFile != nil {
                throw ClientError("a client certificate needs both its certificate and its key")
            }
            return try NIOSSLContext(configuration: configuration)
        } catch let error as ClientError {
            throw error
        } catch {
            throw ClientError("cannot load the TLS files (\(caFile)\(certificateFile.map { ", \($0)" } ?? "")): \(error)")
        }
    }
}

/// A TLS connection driven by SwiftNIO and read and written by one blocking
/// caller: the handler hands received bytes to a buffer the caller waits on.
final class TLSChannel: @unchecked Sendable {
    private let channel: Channel
    private let inbox: Inbox

    /// Received bytes, the end of the stream and the first error, under a condition.
    final class Inbox: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let condition = NSCondition()
        var bytes: [UInt8] = []
        var closed = false
        var failure: Error?
        var handshaken = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            condition.lock()
            bytes += buffer.readBytes(length: buffer.readableBytes) ?? []
            condition.broadcast()
            condition.unlock()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted = event as? TLSUserEvent {
                condition.lock()
                handshaken = true
                condition.broadcast()
                condition.unlock()
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            condition.lock()
            if failure == nil { failure = error }
            condition.broadcast()
            condition.unlock()
            context.close(promise: nil)
        }
    }

    /// Connects and completes the handshake, or throws why not.
    init(host: String, port: Int, tls: ClientTLS, timeoutSeconds: Int) throws {
        let context = try tls.context()
        let inbox = Inbox()
        let serverName = tls.serverName ?? host
        let hostname = serverName.first?.isNumber == true || serverName.contains(":") ? nil : serverName
        do {
            channel = try ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(Int64(timeoutSeconds)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: context, serverHostname: hostname))
                        try channel.pipeline.syncOperations.addHandler(inbox)
                    }
                }
                .connect(host: host, port: port).wait()
        } catch {
            throw ClientError("cannot connect to \(host):\(port): \(error)")
        }
        self.inbox = inbox
        inbox.condition.lock()
        defer { inbox.condition.unlock() }
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        while !inbox.handshaken && inbox.failure == nil && !inbox.closed {
            guard inbox.condition.wait(until: deadline) else { break }
        }
        guard inbox.handshaken else {
            channel.close(promise: nil)
            throw ClientError("the TLS handshake with \(host):\(port) failed: \(inbox.failure.map { "\($0)" } ?? "no answer")")
        }
    }

    func send(_ bytes: [UInt8]) throws {
        do {
            try channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).wait()
        } catch {
            throw ClientError("send failed: \(inbox.failure.map { "\($0)" } ?? "\(error)")")
        }
    }

    /// Waits for bytes (up to `timeoutSeconds`); empty when the server closed.
    func receive(timeoutSeconds: Int) throws -> [UInt8] {
        inbox.condition.lock()
        defer { inbox.condition.unlock() }
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        while inbox.bytes.isEmpty {
            if let failure = inbox.failure { throw ClientError("receive failed: \(failure)") }
            if inbox.closed { return [] }
            guard inbox.condition.wait(until: deadline) else { throw ClientError("no answer within the timeout") }
        }
        defer { inbox.bytes.removeAll(keepingCapacity: true) }
        return inbox.bytes
    }

    func close() { channel.close(promise: nil) }
}
