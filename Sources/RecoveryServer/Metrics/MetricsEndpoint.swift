import Crypto
import Foundation
import LedgerStore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import RecoveryDomain

/// `--metrics-listen`: `/metrics` (Prometheus text format), `/healthz` and
/// `/readyz` over plain HTTP/1.1, one request per connection. Its own limits,
/// apart from the line port's: at most ``maxConnections`` at once (one more
/// is closed at once), each closed when it sends nothing for
/// ``readTimeout`` or is not done within ``requestTimeout``.
public struct MetricsListen: Sendable {
    public var host: String
    public var port: Int
    /// Where the process's swift-metrics backend collects (bootstrapped by the
    /// command line before the server starts).
    public var registry: PrometheusCollectorRegistry
    /// `--metrics-token-file`: the SHA-256 of the bearer token `/metrics`
    /// requires. Without one, `/metrics` is open and serves no finance figure.
    public var tokenDigest: [UInt8]?
    public var maxConnections = 16
    public var readTimeout = TimeAmount.seconds(5)
    public var requestTimeout = TimeAmount.seconds(10)

    public init(host: String, port: Int, registry: PrometheusCollectorRegistry, tokenDigest: [UInt8]? = nil) {
        self.host = host
        self.port = port
        self.registry = registry
        self.tokenDigest = tokenDigest
    }
}

/// What a scrape reads at the moment it is made: states rather than events.
/// It probes PostgreSQL on a connection of its own (short deadlines, so a
/// scrape never waits behind queries or for long on a dead server).
final class MetricsState: Sendable {
    private let server: ServerContext
    private let started = Date()
    /// The probe's connection, used by one scrape at a time.
    private let probe = Mutex<PGConnection?>(nil)

    private let queueDepth = Metrics.Gauge(label: "recoveryd_writer_queue_depth")
    private let connections: [String: Metrics.Gauge]
    private let unauthenticated = Metrics.Gauge(label: "recoveryd_unauthenticated_connections")
    private let subscribers = Metrics.Gauge(label: "recoveryd_subscribers")
    private let databaseUp = Metrics.Gauge(label: "recoveryd_database_up")
    private let writing = Metrics.Gauge(label: "recoveryd_writer_holds_lock")
    private let position = Metrics.Gauge(label: "recoveryd_chain_position")
    /// A standby's or follower's lag; a writer's is 0.
    private let lagPositions = Metrics.Gauge(label: "recoveryd_replication_lag_positions")
    private let lagSeconds = Metrics.Gauge(label: "recoveryd_replication_lag_seconds")
    /// Finance's figures: only with a bearer token (``MetricsListen/tokenDigest``).
    private let spentToday: Metrics.Gauge?
    private let nearlySpent: Metrics.Gauge?
    private let startTime = Metrics.Gauge(label: "recoveryd_start_time_seconds")

    /// Open metrics connections (``MetricsListen/maxConnections``).
    private let open = Mutex(0)

    init(server: ServerContext, financeFigures: Bool) {
        self.server = server
        connections = Dictionary(
            uniqueKeysWithValues: ClientRole.allCases.map { ($0.rawValue, Metrics.Gauge(label: "recoveryd_connections", dimensions: [("role", $0.rawValue)])) })
        spentToday = financeFigures
            ? Metrics.Gauge(label: "recoveryd_compensation_today_minor_units", dimensions: [("currency", server.settings.currency)]) : nil
        nearlySpent = financeFigures ? Metrics.Gauge(label: "recoveryd_people_over_80_percent_of_allowance") : nil
        startTime.record(started.timeIntervalSince1970)
    }

    /// Whether PostgreSQL answers `SELECT 1` within 2 s now.
    func databaseAnswers() -> Bool {
        let conninfo = server.configuration.conninfo
        return probe.withLock { probe in
            do {
                let connection = try probe ?? PGConnection(conninfo, timeouts: PGTimeouts(connect: .seconds(2), statement: .seconds(2), commit: .seconds(2)))
                probe = connection
                _ = try connection.query("SELECT 1")
                return true
            } catch {
                probe = nil
                return false
            }
        }
    }

    struct Readiness {
        var ready: Bool
        var reason: String
    }

    /// `/readyz`: the writer holds the lock and the database answers; a
    /// follower, that the replica answers (it can serve reads).
    func readiness(databaseUp: Bool) -> Readiness {
        let view = server.writer.view
        if server.configuration.mode == .follower {
            return databaseUp ? Readiness(ready: true, reason: "follower: serving reads") : Readiness(ready: false, reason: "follower: the replica does not answer")
        }
        guard view.isServing else { return Readiness(ready: false, reason: "standby: the writer's lock is held elsewhere") }
        if let broken = view.brokenHistory { return Readiness(ready: false, reason: "writer: \(broken.message)") }
        guard view.isConnected, databaseUp else { return Readiness(ready: false, reason: "writer: the database is unavailable") }
        return Readiness(ready: true, reason: "writer: taking appends")
    }

    /// Sets every state gauge; returns whether the database answered.
    func collect() -> Bool {
        let up = databaseAnswers()
        let view = server.writer.view
        queueDepth.record(server.writer.queueDepth)
        let byRole = server.connections.countsByRole
        for (role, gauge) in connections { gauge.record(byRole[role] ?? 0) }
        unauthenticated.record(server.connections.unauthenticated)
        subscribers.record(server.hub.count)
        databaseUp.record(up ? 1 : 0)
        writing.record(view.isServing ? 1 : 0)
        position.record(view.position)
        if let tailer = server.tailer, !view.isServing {
            // -1: not measured (yet, or at all on a standby, which reads the writer's own database).
            let lag = tailer.lag
            lagPositions.record(lag?.positions ?? -1)
            lagSeconds.record(lag?.seconds ?? -1)
        } else {
            // The writer is where the log is written: no lag.
            lagPositions.record(0)
            lagSeconds.record(0)
        }
        if let spentToday, let nearlySpent {
            let rows = view.budgets(on: server.today)?.rows ?? []
            spentToday.record(rows.reduce(Int64(0)) { $0 + $1.budget.spent })
            // Over 80%: spent × 5 > allowance × 4, in integers.
            nearlySpent.record(rows.filter { $0.budget.spent * 5 > $0.budget.allowance * 4 }.count)
        }
        return up
    }

    func close() { probe.withLock { $0 = nil } }

    /// Takes a place for a new metrics connection; false when all are taken.
    func admit(limit: Int) -> Bool {
        open.withLock { open in
            guard open < limit else { return false }
            open += 1
            return true
        }
    }

    func release() { open.withLock { $0 -= 1 } }
}

/// One HTTP request per connection: routes it, answers, closes.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let state: MetricsState
    private let registry: PrometheusCollectorRegistry
    private let work: DispatchQueue
    private let tokenDigest: [UInt8]?
    private var head: HTTPRequestHead?

    init(state: MetricsState, registry: PrometheusCollectorRegistry, work: DispatchQueue, tokenDigest: [UInt8]?) {
        self.state = state
        self.registry = registry
        self.work = work
        self.tokenDigest = tokenDigest
    }

    /// Whether `head` carries the bearer token `/metrics` requires (or none is required).
    private func authorized(_ head: HTTPRequestHead) -> Bool {
        guard let tokenDigest else { return true }
        guard let header = head.headers.first(name: "Authorization"), header.lowercased().hasPrefix("bearer ") else { return false }
        let given = Array(SHA256.hash(data: Array(header.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)))
        // Compared in constant time: the digests, not the tokens.
        return zip(given, tokenDigest).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0 && given.count == tokenDigest.count
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Nothing read for the read timeout: a slow or idle client holds no place.
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
            guard head.method == .GET || head.method == .HEAD else {
                return respond(context, head, .methodNotAllowed, "only GET and HEAD\n", type: "text/plain")
            }
            if path == "/metrics" && !authorized(head) {
                return respond(context, head, .unauthorized, "a bearer token is required (--metrics-token-file)\n", type: "text/plain")
            }
            switch path {
            case "/healthz":
                respond(context, head, .ok, "ok\n", type: "text/plain")
            case "/readyz", "/metrics":
                // The probe and the export block: off the event loop.
                let (state, registry) = (self.state, self.registry)
                let loop = context.eventLoop
                let bound = NIOLoopBound((self, context), eventLoop: loop)
                work.async {
                    let up = state.collect()
                    let answer: (HTTPResponseStatus, String, String)
                    if path == "/readyz" {
                        let readiness = state.readiness(databaseUp: up)
                        answer = (readiness.ready ? .ok : .serviceUnavailable, readiness.reason + "\n", "text/plain")
                    } else {
                        var buffer: [UInt8] = []
                        registry.emit(into: &buffer)
                        answer = (.ok, MetricHelp.annotate(String(decoding: buffer, as: UTF8.self)), "text/plain; version=0.0.4; charset=utf-8")
                    }
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.respond(context, head, answer.0, answer.1, type: answer.2)
                    }
                }
            default:
                respond(context, head, .notFound, "not found: /metrics, /healthz and /readyz are served\n", type: "text/plain")
            }
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus, _ body: String, type: String) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        if request.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// The metrics endpoint as a service: listens on `listen` with
/// ``MetricsHTTPHandler``, and on graceful shutdown closes the listener and
/// its probe connection.
final class MetricsServer: Service, Sendable {
    let listen: MetricsListen
    let state: MetricsState
    let logger: Logger

    init(listen: MetricsListen, server: ServerContext, logger: Logger) {
        self.listen = listen
        state = MetricsState(server: server, financeFigures: listen.tokenDigest != nil)
        self.logger = logger
    }

    func run() async throws {
        let channel: NIOCore.Channel
        do {
            channel = try await bind()
        } catch {
            throw ListenError(description: "cannot listen for metrics on \(listen.host):\(listen.port): \(error)")
        }
        logger.info("metrics listening", metadata: ["address": "\(channel.localAddress!)", "paths": "/metrics /healthz /readyz"])
        try? await gracefulShutdown()
        try? await channel.close()
        state.close()
    }

    private func bind() async throws -> NIOCore.Channel {
        let work = DispatchQueue(label: "recoveryd-metrics")
        let (listen, state) = (self.listen, self.state)
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                // Its own cap: one more connection is closed at once, so the
                // metrics port never eats the descriptors the line port needs.
                guard state.admit(limit: listen.maxConnections) else { return channel.close() }
                channel.closeFuture.whenComplete { _ in state.release() }
                // Done within the request timeout, whatever the client does.
                let deadline = channel.eventLoop.scheduleTask(in: listen.requestTimeout) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in deadline.cancel() }
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: listen.readTimeout))
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(MetricsHTTPHandler(state: state, registry: listen.registry, work: work, tokenDigest: listen.tokenDigest))
                }
            }
            .bind(host: listen.host, port: listen.port).get()
    }
}
