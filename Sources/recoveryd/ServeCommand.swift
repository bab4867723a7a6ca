import ArgumentParser
import Foundation
import LedgerStore
import LineProtocol
import RecoveryWire
import Logging
import RecoveryDomain
import RecoveryHTTP
import RecoveryServer
import ServiceLifecycle
import Synchronization

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default command).")

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:7411"

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var ledger: LedgerOptions

    @Option(help: "Token file (`<role> <sha256 hex> [agent=<agent_id>] [<name>]` per line), read again on SIGHUP. Embedded mode creates <data-dir>/tokens if absent.")
    var tokenFile: String?

    @OptionGroup var signing: SigningOptions

    @Flag(help: "Start as a standby on the same database: serve reads and take over when the writer's lock is free.")
    var standby = false

    @Flag(help: "Serve reads from a hot-standby replica (--database names it); never write.")
    var follow = false

    @Option(help: "HOST:PORT clients reach this daemon at (default: --listen), as a standby names the writer.")
    var advertise: String?

    @Option(help: "HOST:PORT to serve /metrics (Prometheus), /healthz and /readyz on over HTTP (default: not served).")
    var metricsListen: String?

    @Option(help: "HOST:PORT to serve the HTTP API on (docs/HTTP.md), with the line port's tokens, roles, limits and TLS (default: not served).")
    var httpListen: String?

    @Option(help: "A web origin (scheme://host[:port]) whose pages may call the HTTP API; repeat for more (default: none).")
    var httpCorsOrigin: [String] = []

    @Option(help: "A file (mode 0600) holding the bearer token /metrics requires; with it, /metrics also serves finance's figures (today's compensation). Without it /metrics is open and serves none.")
    var metricsTokenFile: String?

    @Option(help: "Append every signed head as a JSON line to this file (or - for standard output), outside the database; the daemon checks its log against the file's last head at start.")
    var headWitness: String?

    @Option(help: "TLS certificate chain (PEM). With --tls-key the listener speaks TLS 1.2+ only.") var tlsCert: String?
    @Option(help: "TLS private key (PEM).") var tlsKey: String?
    @Option(help: "CA (PEM) whose certificates clients must present: mutual TLS.") var tlsClientCa: String?

    var tls: ServerTLS? {
        guard let tlsCert, let tlsKey else { return nil }
        return ServerTLS(certificateFile: tlsCert, keyFile: tlsKey, clientCAFile: tlsClientCa)
    }

    @Option(help: "Longest request line in bytes.") var maxLine = Limits().maxLine
    @Option(help: "Requests pending per connection before reading pauses.") var maxPending = Limits().maxPending
    @Option(help: "Bytes of unsent output per connection before it stops reading and starting work.") var maxOutput = Limits().maxOutput
    @Option(help: "Events queued per subscriber before it is cut off as slow.") var subscriberBuffer = Limits().subscriberBuffer
    @Option(help: "Seconds a silent connection is kept.") var idleTimeout = Limits().idleTimeout
    @Option(help: "Seconds a connection may stay without a good HELLO.") var helloTimeout = Limits().helloTimeout
    @Option(help: "Seconds output may wait for a client that does not read before the connection is closed.") var writeTimeout = Limits().writeTimeout
    @Option(help: "Failed HELLOs on one connection before it is closed.") var maxFailedHellos = Limits().maxFailedHellos
    @Option(help: "Connections served at once.") var maxConnections = Limits().maxConnections
    @Option(help: "Connections without a good HELLO yet, across all peers (when full, the oldest is closed to make room).")
    var maxUnauthenticated = Limits().maxUnauthenticated
    @Option(help: "Connections without a good HELLO yet from one peer address.") var maxUnauthenticatedPerPeer = Limits().maxUnauthenticatedPerPeer
    @Option(help: "Connections from one peer address at once.") var maxConnectionsPerPeer = Limits().maxConnectionsPerPeer
    @Option(help: "Appends committed in one transaction at most.") var maxBatch = Limits().maxBatch
    @Option(help: "Appends waiting for the writer before connections stop sending more.") var maxQueue = Limits().maxQueue
    @Option(help: "Events one at=<position> answer may fold again before it is refused (too_large).") var maxAtEvents = Limits().maxAtEvents
    @Option(help: "MiB the writer's working set may hold before it drops what the tables hold (read again on demand).")
    var stateCacheMib = Limits().stateCacheMib
    @Option(help: "Seconds to connect to PostgreSQL (over every host of a multi-host list).") var connectTimeout = 10.0
    @Option(help: "Seconds one statement or COPY may take.") var statementTimeout = 30.0
    @Option(help: "Seconds a COMMIT may take; past it the outcome is unknown and the batch is answered ERR unavailable.") var commitTimeout = 5.0
    @Option(help: "Seconds SIGTERM waits for answers in flight before answering the rest ERR unavailable and exiting.") var shutdownGrace = 15.0
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"
    @Option(help: "Log lines as text, or json (one object per line, for log shippers).") var logFormat = "text"

    var timeouts: PGTimeouts {
        PGTimeouts(connect: .seconds(connectTimeout), statement: .seconds(statementTimeout), commit: .seconds(commitTimeout))
    }

    var limits: Limits {
        var limits = Limits()
        limits.maxLine = maxLine
        limits.maxPending = maxPending
        limits.maxOutput = maxOutput
        limits.subscriberBuffer = subscriberBuffer
        limits.idleTimeout = idleTimeout
        limits.helloTimeout = helloTimeout
        limits.writeTimeout = writeTimeout
        limits.maxFailedHellos = maxFailedHellos
        limits.maxConnections = maxConnections
        limits.maxUnauthenticated = maxUnauthenticated
        limits.maxUnauthenticatedPerPeer = maxUnauthenticatedPerPeer
        limits.maxConnectionsPerPeer = maxConnectionsPerPeer
        limits.maxBatch = maxBatch
        limits.maxQueue = maxQueue
        limits.maxAtEvents = maxAtEvents
        limits.stateCacheMib = stateCacheMib
        return limits
    }

    func validate() throws {
        for (name, value) in [
            ("connect-timeout", connectTimeout), ("statement-timeout", statementTimeout), ("commit-timeout", commitTimeout),
            ("shutdown-grace", shutdownGrace), ("head-interval", signing.headInterval),
        ] where !(value > 0 && value <= 3_600) {
            throw ValidationError("--\(name) must be more than 0 and at most 3600 seconds")
        }
        if standby && follow { throw ValidationError("--standby and --follow exclude each other") }
        if follow && database.isEmbedded { throw ValidationError("--follow needs --database: the replica to read") }
        if LogFormat(rawValue: logFormat) == nil { throw ValidationError("--log-format must be text or json") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if tlsClientCa != nil && tlsCert == nil { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
        if !httpCorsOrigin.isEmpty && httpListen == nil { throw ValidationError("--http-cors-origin needs --http-listen") }
        for origin in httpCorsOrigin where !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) || origin.hasSuffix("/") {
            throw ValidationError("--http-cors-origin \(origin): an origin is scheme://host[:port], without a path, as a browser sends it")
        }
        if let bad = limits.named.first(where: { $0.value <= 0 }) {
            throw ValidationError("--\(bad.name.replacingOccurrences(of: "_", with: "-")) must be positive")
        }
    }

    func run() async throws {
        // SIGHUP means "read the token file again", never "exit": ignored
        // until the daemon listens and handles it.
        signal(SIGHUP, SIG_IGN)
        let logger = makeLogger(logLevel, format: LogFormat(rawValue: logFormat) ?? .text)
        let (host, port) = try Self.address(listen)
        warnAboutExposure(host: host, logger: logger)
        let metricsToken = try metricsTokenFile.map(Self.metricsTokenDigest)
        let metrics = try metricsListen.map { text in
            let (host, port) = try Self.address(text, option: "--metrics-listen")
            return MetricsListen(host: host, port: port, registry: ServerMetrics.bootstrapPrometheus(), tokenDigest: metricsToken)
        }
        let http = try httpListen.map { text in
            let (host, port) = try Self.address(text, option: "--http-listen")
            warnAboutExposure(host: host, listener: "--http-listen", logger: logger)
            return HTTPListen(host: host, port: port, corsOrigins: httpCorsOrigin)
        }
        let seed = try ledger.seed()
        DescriptorLimit.raise(toServe: limits.maxConnections, metricsConnections: metrics?.maxConnections ?? 0, logger: logger)
        // Before anything in the data dir is touched: a second process on it
        // refuses here, and leaves the first one's PostgreSQL alone.
        let dataDirectoryLock = try DataDirectoryLock(database.dataDirectory)
        defer { withExtendedLifetime(dataDirectoryLock) {} }
        let cluster = try database.startEmbedded(logger: logger)
        do {
            let conninfo = try database.conninfo(cluster: cluster, logger: logger)
            let connection = try PGConnection(conninfo, timeouts: .maintenance)
            if follow {
                try Migrator.checkCurrent(connection)
                // A follower cannot record settings: it only compares its flags with the log.
                let state = LedgerState(
                    allowances: try Projections(connection: connection).allowances(),
                    settingsHistory: try Projections(connection: connection).settingsHistory())
                let differences = seed.differences(from: state, on: state.settingsHistory.businessDay(of: Timestamp(Date())))
                if !differences.isEmpty { throw ValidationError(differences.map(\.description).joined(separator: "\n")) }
            } else {
                try Migrator.migrate(connection) { logger.info("\($0)") }
            }
            let (tokens, tokenURL) = try loadTokens(embedded: cluster != nil, logger: logger)
            _ = try tls?.context()  // bad TLS files stop the start here, with their names
            let signer = try signing.signer(dataDirectory: database.dataDirectory, create: true)
            logger.info("signing heads", metadata: ["ledger": "\(signer.ledger)", "signing_key": "\(signer.publicKeyHex)"])
            let configuration = ServerConfiguration(
                host: host, port: port, conninfo: conninfo, seed: seed, limits: limits, tokens: tokens,
                tokenFile: tokenURL, tls: tls, signer: signer, headInterval: .seconds(signing.headInterval), timeouts: timeouts, shutdownGrace: .seconds(shutdownGrace))
            // Written once listening (the writer's lock is held by then), so a
            // second daemon refused at start never replaces the running one's.
            let dataDirectory = database.dataDirectory
            let pidFile = Mutex<PIDFile?>(nil)
            defer { pidFile.withLock { $0?.remove() } }
            var served = configuration
            served.metrics = metrics
            served.headWitness = headWitness.map(HeadWitness.init)
            served.mode = follow ? .follower : standby ? .standby : .writer
            served.advertise = advertise ?? (["0.0.0.0", "::", ""].contains(host) ? "\(ProcessInfo.processInfo.hostName):\(port)" : listen)
            var daemon = RecoveryDaemon(configuration: served, logger: logger) { _ in
                do {
                    let written = try PIDFile(in: dataDirectory)
                    pidFile.withLock { $0 = written }
                } catch {
                    logger.warning("cannot write the pid file; `recoveryd token revoke` cannot signal this daemon", metadata: ["error": "\(error)"])
                }
            }
            if let http { daemon.frontDoors = [{ HTTPFrontDoor(backend: $0, listen: http) }] }
            // Started in this order and stopped in reverse: PostgreSQL last.
            var services: [any Service] = []
            if let cluster { services.append(EmbeddedPostgres(cluster: cluster, logger: logger)) }
            services += try daemon.services()
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            logger.info("stopped")
        } catch {
            logger.error("recoveryd stopped: \(error)")
            if let cluster { try? cluster.stopIfStartedHere() }
            throw ExitCode.failure
        }
    }

    private func loadTokens(embedded: Bool, logger: Logger) throws -> (TokenFile, URL) {
        if let tokenFile {
            let url = URL(fileURLWithPath: tokenFile)
            return (try TokenFile.load(from: url), url)
        }
        guard embedded else {
            throw ValidationError("--token-file is required with an external database (create one with `recoveryd token new`)")
        }
        let url = database.dataDirectory.appending(path: "tokens")
        if FileManager.default.fileExists(atPath: url.path) {
            logger.info("using the token file", metadata: ["path": "\(url.path)"])
            return (try TokenFile.load(from: url), url)
        }
        // At a terminal the tokens are shown there; otherwise (systemd's
        // journal, a log file) they go to a file only this user can read,
        // created before the token file so that no token is ever lost.
        let atTerminal = isatty(STDOUT_FILENO) == 1
        let shownIn = database.dataDirectory.appending(path: "first-start-tokens")
        let tokens = ClientRole.allCases.map { ($0, TokenFile.newToken()) }
        var lines = [
            "recoveryd: created \(url.path) with one token per role. They are app tokens: shared secrets for trusted back ends, which may record events as anyone their role allows. Shown once; only their hashes are kept:"
        ]
        for (role, token) in tokens { lines.append("  \(role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(token)") }
        lines.append(
            "For people, make tokens bound to them (each records only as its person, reverses only what it recorded or was charged, and acts only on cases it owns unless its person is a supervisor):"
        )
        lines.append("  recoveryd token new --role frontline --agent A-7 --token-file \(url.path) --data-dir \(database.dataDirectory.path)")
        if !atTerminal {
            do {
                try SecretFile.create(shownIn, contents: lines.joined(separator: "\n") + "\n")
            } catch {
                throw ValidationError(
                    "cannot write the first start's tokens to \(shownIn.path): \(error) (a file left by an earlier first start? read it, delete it, and start again)")
            }
        }
        for (role, token) in tokens { try TokenFile.append(token: token, role: role, name: "app", to: url) }
        if atTerminal {
            print(lines.joined(separator: "\n"))
        } else {
            logger.notice(
                "created the token file with one app token per role; stdout is not a terminal, so the tokens were written to a file only this user can read: read them, hand them out, then delete it",
                metadata: ["tokens": "\(shownIn.path)", "token_file": "\(url.path)"])
            print("recoveryd: one app token per role is in \(shownIn.path) (mode 0600); delete that file once they are handed out")
        }
        fflush(nil)
        return (try TokenFile.load(from: url), url)
    }

    /// Loud, not fatal: a listener a network can reach without TLS, and a
    /// TLS key others may read (Debian's ssl-cert group is a legitimate
    /// reader, so the start goes on).
    private func warnAboutExposure(host: String, listener: String = "--listen", logger: Logger) {
        if tls == nil && !Loopback.contains(host: host) {
            logger.warning(
                "listening on a network address without TLS: tokens and events cross the network in clear; give --tls-cert and --tls-key, or listen on 127.0.0.1",
                metadata: ["listener": "\(listener)", "host": "\(host)"])
        }
        guard listener == "--listen" else { return }
        var status = stat()
        if let tlsKey, stat(tlsKey, &status) == 0, status.st_mode & 0o077 != 0 {
            logger.warning(
                "the TLS private key may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))); run `chmod 600 \(tlsKey)`",
                metadata: ["tls_key": "\(tlsKey)"])
        }
    }

    /// The SHA-256 of the token in `path`, a file only its owner may read.
    static func metricsTokenDigest(_ path: String) throws -> [UInt8] {
        var status = stat()
        guard stat(path, &status) == 0 else { throw ValidationError("--metrics-token-file \(path): \(String(cString: strerror(errno)))") }
        guard status.st_mode & 0o077 == 0 else {
            throw ValidationError("--metrics-token-file \(path) may be read by others (mode \(String(status.st_mode & 0o777, radix: 8))); run `chmod 600 \(path)`")
        }
        let token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16 else { throw ValidationError("--metrics-token-file \(path) holds no token of 16 characters or more") }
        return TokenFile.digestBytes(of: token)
    }

    static func address(_ text: String, option: String = "--listen") throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ValidationError("\(option) must be HOST:PORT, such as 127.0.0.1:7411")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}
