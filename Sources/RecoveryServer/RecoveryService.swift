import Foundation
import LedgerStore
import LineProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
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
        let tls = try configuration.tls.map { try $0.context() }
        let hub = SubscriptionHub()
        // Made after the command line bootstrapped the metrics backend, if it did.
        let writer = LedgerWriter(configuration: configuration, hub: hub, metrics: ServerMetrics(), logger: logger)
        var standby: Standby?
        var tailer: LogTailer?
        switch configuration.mode {
        case .writer:
            try writer.start()
        case .standby, .follower:
            // The ledger's settings (its currency and time zone above all) from
            // the tables before serving; the tailer reads them again as the log moves.
            if let connection = try? PGConnection(configuration.conninfo, timeouts: configuration.timeouts),
                let settings = try? Projections(connection: connection).settingsHistory()
            {
                writer.view.observe(head: nil, settings: settings)
            }
            let following = LogTailer(
                conninfo: configuration.conninfo, timeouts: configuration.timeouts, hub: hub, view: writer.view,
                measuresLag: configuration.mode == .follower, logger: logger)
            following.start()
            tailer = following
            if configuration.mode == .standby { standby = Standby(writer: writer, tailer: following, logger: logger) }
        }
        let reads = ReadPool(conninfo: configuration.conninfo, size: configuration.readConnections, timeouts: configuration.timeouts)
        let server = ServerContext(
            configuration: configuration, writer: writer, reads: reads, hub: hub, standby: standby, tailer: tailer, logger: logger)
        // Before listening: a SIGHUP from then on reads the token file again.
        let reloads = configuration.tokenFile.map { TokenReloads(file: $0, connections: server.connections, logger: logger) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let limits = configuration.limits
        let idle = TimeAmount.seconds(Int64(limits.idleTimeout))
        let channel: Channel
        do {
            channel = try await ServerBootstrap(group: group)
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
            reloads?.cancel()
            tailer?.stop()
            await writer.stop(timeout: .seconds(1))
            reads.shutdown()
            try? await group.shutdownGracefully()
            throw ListenError(description: "cannot listen on \(configuration.host):\(configuration.port): \(error)")
        }
        var metricsChannel: Channel?
        var metricsState: MetricsState?
        if let listen = configuration.metrics {
            let state = MetricsState(server: server, financeFigures: listen.tokenDigest != nil)
            do {
                metricsChannel = try await MetricsServer.bind(listen, state: state, group: group)
                metricsState = state
                logger.info("metrics listening", metadata: ["address": "\(metricsChannel!.localAddress!)", "paths": "/metrics /healthz /readyz"])
            } catch {
                reloads?.cancel()
                tailer?.stop()
                try? await channel.close()
                await writer.stop(timeout: .seconds(1))
                reads.shutdown()
                try? await group.shutdownGracefully()
                throw ListenError(description: "cannot listen for metrics on \(listen.host):\(listen.port): \(error)")
            }
        }
        let address = channel.localAddress!
        logger.info(
            "recoveryd listening",
            metadata: [
                "address": "\(address)", "position": "\(writer.view.position)", "version": "\(recoverydVersion)",
                "transport": "\(configuration.tls == nil ? "tcp" : configuration.tls?.clientCAFile == nil ? "tls" : "mutual tls")",
            ])
        onListening(address)
        if let standby {
            logger.notice("standby: serving reads; waiting for the writer's lock to take over")
            standby.start()
        }
        if configuration.mode == .follower { logger.notice("follower: serving reads from a replica; appends go to the writer") }
        let signing = Self.signHeads(server, every: configuration.headInterval, on: group.next())

        try? await gracefulShutdown()

        reloads?.cancel()
        signing.cancel()
        standby?.stop()
        tailer?.stop()
        logger.info("shutting down: no new connections; answering what is in flight")
        try? await channel.close()
        try? await metricsChannel?.close()
        metricsState?.close()
        let grace = configuration.shutdownGrace
        let started = ContinuousClock.now
        if await !server.connections.drainAll(grace: grace) {
            logger.warning("connections still waiting after the shutdown grace were answered unavailable", metadata: ["grace": "\(grace)"])
        }
        await writer.stop(timeout: max(.seconds(1), grace - (ContinuousClock.now - started)))
        if writer.view.isServing, signing.lastSigned != writer.view.position { server.signFinalHead() }
        reads.shutdown()
        try await group.shutdownGracefully()
        logger.info("stopped", metadata: ["position": "\(writer.view.position)"])
    }
}

extension RecoveryService {
    /// Signs the head every `interval` while it moves (DESIGN.md §5): each
    /// one is kept in `signed_heads` and logged.
    final class HeadSigning: @unchecked Sendable {
        private let lock = NSLock()
        private var signed: Int64 = -1
        var task: RepeatedTask?

        var lastSigned: Int64 {
            lock.lock()
            defer { lock.unlock() }
            return signed
        }

        func moved(to position: Int64) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            guard position != signed else { return false }
            signed = position
            return true
        }

        func cancel() { task?.cancel() }
    }

    static func signHeads(_ server: ServerContext, every interval: Duration, on loop: EventLoop) -> HeadSigning {
        let signing = HeadSigning()
        let nanoseconds = Int64(interval.components.seconds) * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000
        signing.task = loop.scheduleRepeatedTask(initialDelay: .nanoseconds(nanoseconds), delay: .nanoseconds(nanoseconds)) { _ in
            guard server.writer.view.isServing, signing.moved(to: server.writer.view.position) else { return }
            server.signHead(on: loop).whenFailure { error in
                server.logger.warning("could not sign and keep the head", metadata: ["error": "\(error)"])
            }
        }
        return signing
    }
}

public struct ListenError: Error, CustomStringConvertible {
    public var description: String
}
