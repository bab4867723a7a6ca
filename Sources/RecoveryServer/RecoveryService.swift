import Foundation
import LineProtocol
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The daemon as a swift-service-lifecycle `Service`: starts the writer (which
/// takes the ledger's lock and loads its state), listens, and on graceful
/// shutdown stops accepting, lets every session answer what is in flight,
/// stops the writer (which answers what is queued) and closes.
public final class RecoveryService: Service, Sendable {
    private let configuration: ServerConfiguration
    private let logger: Logger
    private let onListening: @Sendable (SocketAddress) -> Void

    public init(configuration: ServerConfiguration, logger: Logger, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let hub = SubscriptionHub()
        let writer = LedgerWriter(configuration: configuration, hub: hub, logger: logger)
        try writer.start()
        let reads = ReadPool(conninfo: configuration.conninfo, size: configuration.readConnections, timeouts: configuration.timeouts)
        let server = ServerContext(configuration: configuration, writer: writer, reads: reads, hub: hub, logger: logger)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let limits = configuration.limits
        let idle = TimeAmount.seconds(Int64(limits.idleTimeout))
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(
                    ChannelOptions.writeBufferWaterMark,
                    value: ChannelOptions.Types.WriteBufferWaterMark(low: limits.maxOutput / 2, high: limits.maxOutput)
                )
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: idle))
                        try pipeline.addHandler(ByteToMessageHandler(LineFrameDecoder(maxLine: limits.maxLine)))
                        try pipeline.addHandler(SessionHandler(backend: server))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).get()
        } catch {
            writer.stop(timeout: .seconds(1))
            reads.shutdown()
            try? await group.shutdownGracefully()
            throw ListenError(description: "cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        let address = channel.localAddress!
        logger.info(
            "recoveryd listening",
            metadata: ["address": "\(address)", "position": "\(writer.view.position)", "version": "\(recoverydVersion)"])
        onListening(address)
        let reloads = configuration.tokenFile.map { TokenReloads(file: $0, connections: server.connections, logger: logger) }

        try? await gracefulShutdown()

        reloads?.cancel()
        logger.info("shutting down: no new connections; answering what is in flight")
        try? await channel.close()
        let grace = configuration.shutdownGrace
        let started = ContinuousClock.now
        if await !server.connections.drainAll(grace: grace) {
            logger.warning("connections still waiting after the shutdown grace were answered unavailable", metadata: ["grace": "\(grace)"])
        }
        writer.stop(timeout: max(.seconds(1), grace - (ContinuousClock.now - started)))
        reads.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped", metadata: ["position": "\(writer.view.position)"])
    }
}

public struct ListenError: Error, CustomStringConvertible {
    public var description: String
}
