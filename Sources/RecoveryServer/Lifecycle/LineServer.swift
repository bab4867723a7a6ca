import Foundation
import RecoveryWire
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// The line protocol's listener (docs/PROTOCOL.md): last to start, first to
/// stop. On graceful shutdown it stops accepting, tells every connection to
/// finish (each answers what it has read, then closes) and waits for them
/// within `--shutdown-grace`; those still open then are closed.
final class LineServer: Service, Sendable {
    let server: ServerContext
    let tls: NIOSSLContext?
    let deadline: ShutdownDeadline
    let onListening: @Sendable (SocketAddress) -> Void

    init(server: ServerContext, tls: NIOSSLContext?, deadline: ShutdownDeadline, onListening: @escaping @Sendable (SocketAddress) -> Void) {
        self.server = server
        self.tls = tls
        self.deadline = deadline
        self.onListening = onListening
    }

    func run() async throws {
        let configuration = server.configuration
        let channel = try await bind()
        let address = channel.localAddress!
        server.logger.info(
            "recoveryd listening",
            metadata: [
                "address": "\(address)", "position": "\(server.writer.view.position)", "version": "\(recoverydVersion)",
                "transport": "\(configuration.tls == nil ? "tcp" : configuration.tls?.clientCAFile == nil ? "tls" : "mutual tls")",
            ])
        onListening(address)
        if configuration.mode == .follower { server.logger.notice("follower: serving reads from a replica; appends go to the writer") }

        try? await gracefulShutdown()

        deadline.begin()
        server.logger.info("shutting down: no new connections; answering what is in flight")
        try? await channel.close()
        if await !server.connections.drainAll(grace: configuration.shutdownGrace) {
            server.logger.warning(
                "connections still waiting after the shutdown grace were answered unavailable", metadata: ["grace": "\(configuration.shutdownGrace)"])
        }
    }

    private func bind() async throws -> Channel {
        let configuration = server.configuration
        let limits = configuration.limits
        let idle = TimeAmount.seconds(Int64(limits.idleTimeout))
        let (tls, server) = (self.tls, self.server)
        do {
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                // A burst of connections (a peer opening thousands) must not fill the
                // accept queue: a SYN dropped there waits a second to be sent again.
                .serverChannelOption(ChannelOptions.backlog, value: 4_096)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(
                    ChannelOptions.writeBufferWaterMark,
                    value: ChannelOptions.Types.WriteBufferWaterMark(low: limits.maxOutput / 2, high: limits.maxOutput)
                )
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        if let tls { try pipeline.addHandler(NIOSSLServerHandler(context: tls)) }
                        try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                        try pipeline.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLine: limits.maxLine)))
                        try pipeline.addHandler(SessionHandler(backend: server))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            throw ListenError(description: "cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
    }
}

public struct ListenError: Error, CustomStringConvertible {
    public var description: String
}
