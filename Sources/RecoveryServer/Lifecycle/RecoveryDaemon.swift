import Foundation
import LedgerStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The daemon's parts as swift-service-lifecycle services, for one
/// `ServiceGroup` (docs/ARCHITECTURE.md, "Lifecycle"). ``services()`` makes
/// them in start order — the read pool, the head signer, the writer (which,
/// in writer mode, has taken the ledger's lock and loaded its state by
/// then), the standby or the tailer, the token reloads, the metrics server and
/// last the line server — and the group stops them in reverse on SIGTERM or
/// SIGINT: the line server stops accepting and lets every connection answer
/// what it has in flight (within `--shutdown-grace`), the writer answers
/// what is queued, the last head is signed, the read pool closes.
public struct RecoveryDaemon: Sendable {
    public let configuration: ServerConfiguration
    public let logger: Logger
    /// Called once the line server listens (the pid file is written then).
    public var onListening: @Sendable (SocketAddress) -> Void
    /// Other listeners on the same server operations (the HTTP API), started
    /// after the line server and stopped before it.
    package var frontDoors: [@Sendable (any RequestBackend) throws -> any Service] = []

    public init(configuration: ServerConfiguration, logger: Logger, onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }) {
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    /// Makes every part, in start order. In writer mode the writer starts
    /// here: a second writer, an unreachable database or a flag that differs
    /// from the log fails this call, before anything listens.
    public func services() throws -> [any Service] {
        let tls = try configuration.tls.map { try $0.context() }
        let hub = SubscriptionHub()
        // Made after the command line bootstrapped the metrics backend, if it did.
        let writer = LedgerWriter(configuration: configuration, hub: hub, metrics: ServerMetrics(), logger: logger)
        let deadline = ShutdownDeadline(grace: configuration.shutdownGrace)
        let reads = ReadPool(conninfo: configuration.conninfo, size: configuration.readConnections, timeouts: configuration.timeouts)
        var tailer: LogTailer?
        var standby: Standby?
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
            tailer = following
            if configuration.mode == .standby { standby = Standby(writer: writer, tailer: following, logger: logger) }
        }
        let server = ServerContext(
            configuration: configuration, writer: writer, reads: reads, hub: hub, standby: standby, tailer: tailer, logger: logger)
        var services: [any Service] = [
            reads,
            HeadSigning(server: server, interval: configuration.headInterval),
            WriterService(writer: writer, deadline: deadline),
        ]
        if let standby { services.append(standby) }
        if let tailer { services.append(tailer) }
        if let file = configuration.tokenFile { services.append(TokenReloads(file: file, connections: server.connections, logger: logger)) }
        if let listen = configuration.metrics { services.append(MetricsServer(listen: listen, server: server, logger: logger)) }
        services.append(LineServer(server: server, tls: tls, deadline: deadline, onListening: onListening))
        for door in frontDoors { services.append(try door(server)) }
        return services
    }
}

/// When the graceful shutdown began: the parts that stop after the line
/// server share what is left of `--shutdown-grace`.
final class ShutdownDeadline: Sendable {
    let grace: Duration
    private let began = Mutex<ContinuousClock.Instant?>(nil)

    init(grace: Duration) { self.grace = grace }

    func begin() { began.withLock { $0 = $0 ?? .now } }

    /// What is left of the grace (all of it before the shutdown began).
    var remaining: Duration {
        began.withLock { began in began.map { grace - (ContinuousClock.now - $0) } ?? grace }
    }
}

/// The writer's part of the lifecycle: started before the group runs (writer
/// mode) or by the standby; stopped after the line server, answering what is
/// queued within what is left of the grace (at least a second).
final class WriterService: Service, Sendable {
    let writer: LedgerWriter
    let deadline: ShutdownDeadline

    init(writer: LedgerWriter, deadline: ShutdownDeadline) {
        self.writer = writer
        self.deadline = deadline
    }

    func run() async {
        try? await gracefulShutdown()
        await writer.stop(timeout: max(.seconds(1), deadline.remaining))
    }
}

/// Signs the head every `interval` while it moves (docs/OPERATIONS.md, "The
/// head-signing key"), and the last head when the daemon stops: it is
/// stopped after the writer, so that head is the log's last.
final class HeadSigning: Service, Sendable {
    let server: ServerContext
    let interval: Duration
    private let lastSigned = Atomic<Int64>(-1)

    init(server: ServerContext, interval: Duration) {
        self.server = server
        self.interval = interval
    }

    func run() async {
        let view = server.writer.view
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            } catch {
                break
            }
            let position = view.position
            guard view.isServing, lastSigned.exchange(position, ordering: .relaxed) != position else { continue }
            do {
                _ = try await server.signHead(on: MultiThreadedEventLoopGroup.singleton.next()).get()
            } catch {
                server.logger.warning("could not sign and keep the head", metadata: ["error": "\(error)"])
            }
        }
        try? await gracefulShutdown()
        if view.isServing, lastSigned.load(ordering: .relaxed) != view.position { await server.signFinalHead() }
    }
}
