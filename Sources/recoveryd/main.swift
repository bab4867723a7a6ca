import ArgumentParser
import Foundation
import LedgerStore
import LineProtocol
import Logging
import RecoveryDomain
import RecoveryServer
import ServiceLifecycle

@main
struct Recoveryd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recoveryd",
        abstract: "The service-recovery ledger daemon.",
        version: recoverydVersion,
        subcommands: [Serve.self, Migrate.self, TokenCommand.self, Rebuild.self],
        defaultSubcommand: Serve.self)
}

/// Where the ledger's PostgreSQL is: `--database`, the PG* environment, or the
/// embedded default (a private cluster in the data dir).
struct DatabaseOptions: ParsableArguments {
    @Option(help: "libpq conninfo or URI of the ledger's database. Without it (and without PG* variables) recoveryd runs its own PostgreSQL in --data-dir.")
    var database: String?

    @Option(help: "Folder for the embedded PostgreSQL and the generated token file.")
    var dataDir: String = "./.recoveryd"

    var isEmbedded: Bool {
        guard database == nil else { return false }
        let environment = ProcessInfo.processInfo.environment
        return !["PGHOST", "PGHOSTADDR", "PGDATABASE", "PGSERVICE", "PGPORT"].contains { environment[$0] != nil }
    }

    var dataDirectory: URL { URL(fileURLWithPath: dataDir).standardizedFileURL }

    /// The embedded cluster, started (initdb on first use) and with its
    /// `recoveryd` database; nil when a database is configured.
    func startEmbedded(logger: Logger) throws -> LocalCluster? {
        guard isEmbedded else { return nil }
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let cluster = try LocalCluster(directory: dataDirectory.appending(path: "postgres"))
        if !cluster.isInitialized { logger.info("creating the embedded PostgreSQL cluster", metadata: ["dir": "\(cluster.directory.path)"]) }
        try cluster.initializeIfNeeded()
        try cluster.start()
        logger.info("embedded PostgreSQL running", metadata: ["socket_dir": "\(cluster.directory.path)"])
        return cluster
    }

    func conninfo(cluster: LocalCluster?) throws -> String {
        if let cluster { return try cluster.createDatabase("recoveryd") }
        return database ?? ""
    }
}

/// The ledger's currency, time zone and default allowances.
struct LedgerOptions: ParsableArguments {
    @Option(help: "The ledger's ISO 4217 currency.")
    var currency = "USD"

    @Option(help: "The ledger's time zone (IANA name); business days are dates in it.")
    var timeZone = "UTC"

    @Option(help: "Daily allowance of a person without an allowance event, in minor units.")
    var defaultAllowance: Int64 = 200_000

    @Option(help: "Daily allowance of a configured supervisor, in minor units.")
    var supervisorAllowance: Int64 = 1_000_000

    @Option(help: "A supervisor (agent_id); repeat for more.")
    var supervisor: [String] = []

    func ledger() throws -> LedgerConfiguration {
        guard Money.isCurrencyCode(currency) else { throw ValidationError("--currency must be an ISO 4217 code such as USD") }
        guard let zone = TimeZone(identifier: timeZone) else { throw ValidationError("--time-zone \(timeZone) is not a known time zone") }
        guard defaultAllowance >= 0, supervisorAllowance >= 0 else { throw ValidationError("allowances are never negative") }
        return LedgerConfiguration(
            currency: currency, timeZone: zone, defaultAllowance: defaultAllowance,
            defaultSupervisorAllowance: supervisorAllowance, supervisors: Set(supervisor))
    }
}

func makeLogger(_ level: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = Logger.Level(rawValue: level) ?? .info
        return handler
    }
    return Logger(label: "recoveryd")
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default command).")

    @Option(help: "Address to listen on.")
    var listen = "127.0.0.1:7411"

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var ledger: LedgerOptions

    @Option(help: "Token file (`<role> <sha256 hex> [<name>]` per line). Embedded mode creates <data-dir>/tokens if absent.")
    var tokenFile: String?

    @Option(help: "Longest request line in bytes.") var maxLine = Limits().maxLine
    @Option(help: "Requests pending per connection before reading pauses.") var maxPending = Limits().maxPending
    @Option(help: "Events queued per subscriber before it is cut off as slow.") var subscriberBuffer = Limits().subscriberBuffer
    @Option(help: "Seconds a silent connection is kept.") var idleTimeout = Limits().idleTimeout
    @Option(help: "Connections served at once.") var maxConnections = Limits().maxConnections
    @Option(help: "Appends committed in one transaction at most.") var maxBatch = Limits().maxBatch
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel = "info"

    func run() async throws {
        let logger = makeLogger(logLevel)
        let (host, port) = try Self.address(listen)
        var limits = Limits()
        limits.maxLine = maxLine
        limits.maxPending = maxPending
        limits.subscriberBuffer = subscriberBuffer
        limits.idleTimeout = idleTimeout
        limits.maxConnections = maxConnections
        limits.maxBatch = maxBatch
        guard [maxLine, maxPending, subscriberBuffer, idleTimeout, maxConnections, maxBatch].allSatisfy({ $0 > 0 }) else {
            throw ValidationError("limits must be positive")
        }
        let ledgerConfiguration = try ledger.ledger()
        let cluster = try database.startEmbedded(logger: logger)
        do {
            let conninfo = try database.conninfo(cluster: cluster)
            let connection = try PGConnection(conninfo)
            try Migrator.migrate(connection) { logger.info("\($0)") }
            try LedgerSettings.check(currency: ledger.currency, timeZone: ledger.timeZone, connection: connection)
            let tokens = try loadTokens(embedded: cluster != nil, logger: logger)
            let configuration = ServerConfiguration(
                host: host, port: port, conninfo: conninfo, ledger: ledgerConfiguration, limits: limits, tokens: tokens)
            let service = RecoveryService(configuration: configuration, logger: logger)
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch {
            logger.error("recoveryd stopped: \(error)")
            if let cluster { try? cluster.stop() }
            throw ExitCode.failure
        }
        if let cluster {
            logger.info("stopping the embedded PostgreSQL")
            try cluster.stop()
        }
    }

    private func loadTokens(embedded: Bool, logger: Logger) throws -> TokenFile {
        if let tokenFile { return try TokenFile.load(from: URL(fileURLWithPath: tokenFile)) }
        guard embedded else {
            throw ValidationError("--token-file is required with an external database (create one with `recoveryd token new`)")
        }
        let url = database.dataDirectory.appending(path: "tokens")
        if FileManager.default.fileExists(atPath: url.path) {
            logger.info("using the token file", metadata: ["path": "\(url.path)"])
            return try TokenFile.load(from: url)
        }
        var lines = ["recoveryd: created \(url.path) with one token per role (shown once, only their hashes are kept):"]
        for role in ClientRole.allCases {
            let token = TokenFile.newToken()
            try TokenFile.append(token: token, role: role, name: "generated", to: url)
            lines.append("  \(role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(token)")
        }
        print(lines.joined(separator: "\n"))
        fflush(nil)
        return try TokenFile.load(from: url)
    }

    static func address(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
            throw ValidationError("--listen must be HOST:PORT, such as 127.0.0.1:7411")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply the schema's migrations and exit.")

    @OptionGroup var database: DatabaseOptions

    func run() async throws {
        let logger = makeLogger("info")
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stop() } }
        let applied = try Migrator.migrate(PGConnection(database.conninfo(cluster: cluster))) { logger.info("\($0)") }
        print(applied.isEmpty ? "schema up to date" : "applied \(applied.count) migration(s)")
    }
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "Manage tokens.", subcommands: [New.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token: print it once and append its hash to the token file.")

        @Option(help: "frontline, auditor, finance or admin.") var role: String
        @Option(help: "A name to remember it by (no secrets).") var name: String?
        @Option(help: "Token file to append to.") var tokenFile: String = "./.recoveryd/tokens"

        func run() throws {
            guard let role = ClientRole(rawValue: role) else {
                throw ValidationError("--role must be one of \(ClientRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let name, name.contains("\n") { throw ValidationError("--name must be one line") }
            let token = TokenFile.newToken()
            let url = URL(fileURLWithPath: tokenFile)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try TokenFile.append(token: token, role: role, name: name, to: url)
            print(token)
        }
    }
}

struct Rebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay the whole log through the deciders and compare with the projection tables.")

    @Flag(help: "Report differences (the only mode: the tables are never rewritten).") var check = false
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var ledger: LedgerOptions

    func run() async throws {
        guard check else { throw ValidationError("say --check: rebuild compares and reports, it does not rewrite") }
        let logger = makeLogger("info")
        let configuration = try ledger.ledger()
        let cluster = try database.startEmbedded(logger: logger)
        defer { if let cluster { try? cluster.stop() } }
        let conninfo = try database.conninfo(cluster: cluster)
        let connection = try PGConnection(conninfo)
        let started = ContinuousClock.now
        var replayed = LedgerState()
        var count: Int64 = 0
        var failure: String?
        // A second thread reads and decodes pages while this one folds them.
        let pages = DecodedPages(capacity: 4)
        let reader = Thread {
            do {
                var payloads: [[UInt8]] = []
                payloads.reserveCapacity(EventReader.defaultPageSize)
                // Each page is decoded on both cores, then handed over in order.
                func hand(_ payloads: [[UInt8]]) {
                    let decoded = DecodedSlots(count: payloads.count)
                    DispatchQueue.concurrentPerform(iterations: 2) { half in
                        let range = half == 0 ? 0..<payloads.count / 2 : payloads.count / 2..<payloads.count
                        for index in range { decoded.set(index, EventCodec.decodeRecorded(payload: payloads[index])) }
                    }
                    pages.push(decoded.results)
                }
                try EventReader(connection: PGConnection(conninfo)).forEach(from: 1) { stored in
                    payloads.append(stored.payload)
                    if payloads.count == EventReader.defaultPageSize {
                        hand(payloads)
                        payloads.removeAll(keepingCapacity: true)
                    }
                }
                hand(payloads)
                pages.finish(error: nil)
            } catch {
                pages.finish(error: "\(error)")
            }
        }
        reader.start()
        while failure == nil, let page = pages.pop() {
            for decoded in page {
                switch decoded {
                case .success(let recorded):
                    guard recorded.position == replayed.lastPosition + 1 else {
                        failure = "position \(recorded.position) follows \(replayed.lastPosition)"
                        break
                    }
                    replayed.apply(recorded, configuration: configuration)
                    count += 1
                    if count % 100_000 == 0 { logger.info("replayed \(count) events") }
                case .failure(let error):
                    failure = "position \(replayed.lastPosition + 1) does not decode: \(error)"
                }
                if failure != nil { break }
            }
        }
        pages.cancel()
        if failure == nil, let error = pages.error { failure = error }
        if let failure { throw ValidationError("rebuild failed: \(failure)") }
        let seconds = (ContinuousClock.now - started).components
        let elapsed = Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18
        let stored = try Projections(connection: connection).completeState()
        let differences = Self.differences(replayed, stored)
        let rate = elapsed > 0 ? Int(Double(count) / elapsed) : 0
        if differences.isEmpty {
            print("rebuild --check: the projection tables match the log (\(count) events, \(stored.cases.count) cases, \(stored.budgets.count) budget rows; \(rate) events/s)")
        } else {
            print("rebuild --check: \(differences.count) difference(s) between the log and the projection tables:")
            for line in differences.prefix(50) { print("  \(line)") }
            throw ExitCode(1)
        }
    }

    static func differences(_ replayed: LedgerState, _ stored: LedgerState) -> [String] {
        var out: [String] = []
        if replayed.lastPosition != stored.lastPosition {
            out.append("checkpoint: tables at position \(stored.lastPosition), log at \(replayed.lastPosition)")
        }
        for id in Set(replayed.cases.keys).union(stored.cases.keys).sorted() where replayed.cases[id] != stored.cases[id] {
            out.append("case \(id): log says \(replayed.cases[id].map { "\($0.outcome.rawValue), net \($0.compensationNet), last \($0.lastPosition)" } ?? "absent"); table says \(stored.cases[id].map { "\($0.outcome.rawValue), net \($0.compensationNet), last \($0.lastPosition)" } ?? "absent")")
        }
        for key in Set(replayed.budgets.keys).union(stored.budgets.keys).sorted() where replayed.budgets[key] != stored.budgets[key] {
            out.append("budget \(key.agentID) \(key.day): log says \(replayed.budgets[key].map { "spent \($0.spent) of \($0.allowance)" } ?? "absent"); table says \(stored.budgets[key].map { "spent \($0.spent) of \($0.allowance)" } ?? "absent")")
        }
        for agent in Set(replayed.allowances.keys).union(stored.allowances.keys).sorted() where replayed.allowances[agent] != stored.allowances[agent] {
            out.append("allowances of \(agent) differ")
        }
        return out
    }
}

/// Pages of decoded events handed from the reading thread to the folding one;
/// at most `capacity` pages wait, so memory stays bounded.
final class DecodedPages: @unchecked Sendable {
    private let condition = NSCondition()
    private let capacity: Int
    private var pages: [[Result<RecordedEvent, Rejection>]] = []
    private var finished = false
    private var cancelled = false
    private(set) var error: String?

    init(capacity: Int) { self.capacity = capacity }

    func push(_ page: [Result<RecordedEvent, Rejection>]) {
        condition.lock()
        defer { condition.unlock() }
        while pages.count >= capacity && !cancelled { condition.wait() }
        if cancelled { return }
        pages.append(page)
        condition.broadcast()
    }

    func finish(error: String?) {
        condition.lock()
        finished = true
        self.error = error
        condition.broadcast()
        condition.unlock()
    }

    func pop() -> [Result<RecordedEvent, Rejection>]? {
        condition.lock()
        defer { condition.unlock() }
        while pages.isEmpty && !finished { condition.wait() }
        guard !pages.isEmpty else { return nil }
        condition.broadcast()
        return pages.removeFirst()
    }

    /// The folding side stopped early: let the reader stop too.
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Decoding results written by index from two threads: disjoint halves of
/// one fixed allocation, so no two threads touch the same memory.
final class DecodedSlots: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<Result<RecordedEvent, Rejection>?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func set(_ index: Int, _ value: Result<RecordedEvent, Rejection>) { slots[index] = value }

    var results: [Result<RecordedEvent, Rejection>] { slots.map { $0! } }
}
