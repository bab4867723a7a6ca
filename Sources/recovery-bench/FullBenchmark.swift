import RecoveryTesting
import RecoveryWire
import ArgumentParser
import Crypto
import Foundation
import Synchronization
import LedgerStore
import RecoveryClient

/// `recovery-bench run`: the numbers that matter (docs/BENCHMARKS.md), all in
/// one run on one cluster: durable appends over TCP, PostgreSQL's own ceiling
/// for the same rows, queries under load, replay, start-up and rebuild.
struct FullBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Benchmark a recoveryd on its own private PostgreSQL (or an existing one).")

    @Option(help: "HOST:PORT of a running recoveryd to use instead of starting one (needs --token; --database enables the PostgreSQL phases).")
    var server: String?
    @Option(help: "An admin token for --server.") var token: String?
    @Option(help: "libpq conninfo of the ledger's database, with --server.") var database: String?
    @Option(help: "Client connections appending.") var connections = 64
    @Option(help: "Requests in flight per connection.") var depth = 8
    @Option(help: "Seconds per timed phase.") var seconds = 10.0
    @Option(help: "Events in the log for the start-up measurement (0 skips it).") var startupEvents = 1_000_000
    @Flag(help: "Print JSON instead of a table.") var json = false
    @Flag(help: "Start the daemon with --metrics-listen, and read its append counter after the run (to measure what metrics cost).")
    var metrics = false
    @Flag(help: "Measure only the appends phase (with the daemon's CPU per event).") var appendsOnly = false

    func run() throws {
        var report: [(String, [String: Any])] = []
        var environment = try BenchEnvironment(server: server, token: token, database: database, metrics: metrics)
        defer { environment.tearDown() }
        progress("appends: \(connections) connections × depth \(depth) for \(seconds) s")
        let hotBefore = try environment.conninfo.map(HOTCounts.read)
        let cpuBefore = environment.cpu()
        let full = try AppendLoad().run(
            host: environment.host, port: environment.port, token: environment.token, connections: connections,
            depth: depth, seconds: seconds, rate: nil)
        let cpuAfter = environment.cpu()
        var appends = full.latencies.summary as [String: Any]
        appends["events_per_s"] = Int(full.eventsPerSecond)
        appends["accepted"] = full.accepted
        appends["refused"] = full.refused
        appends["refusals"] = full.errors
        if let before = cpuBefore, let after = cpuAfter, full.accepted > 0 {
            let events = Double(full.accepted)
            appends["daemon_cpu_us_per_event"] = String(format: "%.1f", (after.daemon - before.daemon) / events * 1e6)
            appends["postgres_cpu_us_per_event"] = String(format: "%.1f", ProcessCPU.used(from: before.postgres, to: after.postgres) / events * 1e6)
        }
        if let scraped = environment.scrapeRecordedAppends() { appends["metrics_recorded_appends"] = scraped }
        report.append(("appends (max)", appends))
        if let conninfo = environment.conninfo, let hotBefore {
            report.append(("HOT updates in the appends phase", try HOTCounts.read(conninfo).since(hotBefore).summary))
        }
        if appendsOnly { return try printReport(report, json: json) }

        if let conninfo = environment.conninfo {
            progress("ceiling: the same rows through libpq COPY (1,000-row transactions) and one row per transaction")
            let ceiling = try Ceiling.measure(conninfo: conninfo, maxRows: 200_000, singleRowSeconds: min(seconds, 5))
            report.append((
                "ceiling", [
                    "copy_1000_rows_per_s": Int(ceiling.copyPerSecond), "one_row_per_tx_per_s": Int(ceiling.singlePerSecond),
                    "one_row_per_tx_8_conns_per_s": Int(ceiling.single8PerSecond),
                    "recoveryd_vs_copy": ratio(full.eventsPerSecond, ceiling.copyPerSecond),
                    "recoveryd_vs_one_row": ratio(full.eventsPerSecond, ceiling.singlePerSecond),
                    "recoveryd_vs_one_row_8_conns": ratio(full.eventsPerSecond, ceiling.single8PerSecond),
                ]))
        }

        let half = full.eventsPerSecond / 2
        progress("queries under load: appends paced at \(Int(half)) events/s, BUDGET and CASE from one more connection")
        let load = AppendLoad()
        let box = Mutex<AppendLoad.Result?>(nil)
        let done = DispatchGroup()
        let (host, port, token, connections, depth, seconds) = (environment.host, environment.port, environment.token, connections, depth, seconds)
        done.enter()
        Thread.detachNewThread {
            let result = try? load.run(host: host, port: port, token: token, connections: connections, depth: depth, seconds: seconds, rate: half)
            box.withLock { $0 = result }
            done.leave()
        }
        let queries = try Queries.measure(environment: environment, seconds: seconds, cases: { load.knownCases })
        done.wait()
        let halfResult = box.withLock { $0 } ?? AppendLoad.Result()
        var paced = halfResult.latencies.summary as [String: Any]
        paced["events_per_s"] = Int(halfResult.eventsPerSecond)
        report.append(("appends (half load)", paced))
        report.append(("BUDGET under load", queries.budget.summary))
        report.append(("CASE under load", queries.caseQuery.summary))

        progress("replay: REPLAY 1 to one client, next to COPY … TO STDOUT")
        var replay = try Replay.measure(environment: environment)
        if let conninfo = environment.conninfo {
            let copy = try Replay.copyOut(conninfo: conninfo)
            replay["copy_to_stdout_per_s"] = Int(copy)
            replay["replay_vs_copy"] = ratio(Double(replay["replay_events_per_s"] as? Int ?? 0), copy)
        }
        report.append(("replay", replay))

        progress("instructions per event: recovery-bench cpu under callgrind")
        do {
            let counted = try CPUBenchmark.instructionsPerEvent(events: 20_000, batch: 500)
            report.append(("instructions (callgrind)", ["per_event": counted.perEvent, "events": counted.events, "what": "the per-event work without I/O (recovery-bench cpu)"]))
        } catch {
            report.append(("instructions (callgrind)", ["per_event": "not measured: \(error)"]))
        }

        if startupEvents > 0, environment.canRestart {
            progress("start-up: filling the log to \(startupEvents) events")
            try environment.fill(to: Int64(startupEvents), connections: connections, depth: depth)
            let startup = try environment.measureRestart()
            progress("rebuild --check over \(startup.events) events")
            let rebuild = try environment.rebuildCheck()
            report.append((
                "start-up", ["events_in_log": startup.events, "seconds_to_listen": String(format: "%.2f", startup.seconds), "rebuild_check": rebuild]
            ))
        }

        try printReport(report, json: json)
    }
}

/// Prints a benchmark's sections: a table, or one JSON object.
func printReport(_ report: [(String, [String: Any])], json: Bool) throws {
    if json {
        let object = Dictionary(uniqueKeysWithValues: report.map { ($0.0, $0.1) })
        print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        return
    }
    for (name, values) in report {
        print(name)
        let width = max(24, values.keys.map(\.count).max() ?? 0)
        for key in values.keys.sorted() { print("  \(key.padding(toLength: width, withPad: " ", startingAt: 0)) \(values[key]!)") }
    }
}

func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.2f", a / b) : "–" }

/// Where the benchmark runs: a daemon it started on a private cluster, or one given.
struct BenchEnvironment {
    var host = "127.0.0.1"
    var port: Int
    var token: String
    var conninfo: String?
    private var cluster: LocalCluster?
    private var daemon: pid_t = 0
    private var folder: URL?

    var canRestart: Bool { cluster != nil }

    /// CPU seconds so far of the daemon, and of PostgreSQL's processes by pid
    /// (nil when the benchmark did not start them).
    func cpu() -> (daemon: Double, postgres: [pid_t: Double])? {
        guard daemon != 0, let cluster,
            let line = try? String(contentsOf: cluster.dataDirectory.appending(path: "postmaster.pid"), encoding: .utf8)
                .split(separator: "\n").first,
            let postmaster = pid_t(line), let own = ProcessCPU.seconds(of: daemon)
        else { return nil }
        return (own, ProcessCPU.tree(postmaster))
    }

    /// The port of the daemon's `--metrics-listen`, when started with it.
    private var metricsPort: Int?
    /// The port of the daemon's `--http-listen`, when started with it.
    private(set) var httpPort: Int?

    /// More `recoveryd serve` options for the daemon it starts.
    private var daemonArguments: [String] = []

    init(server: String?, token: String?, database: String?, metrics: Bool = false, http: Bool = false, daemonArguments: [String] = []) throws {
        if let server {
            guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]), let token else {
                throw ValidationError("--server HOST:PORT needs --token")
            }
            host = String(server[..<colon])
            self.port = port
            self.token = token
            conninfo = database
            return
        }
        let folder = FileManager.default.temporaryDirectory.appending(path: "recovery-bench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        self.folder = folder
        let cluster = try LocalCluster(directory: folder.appending(path: "postgres"), settings: ["max_connections": "300"])
        progress("starting a private PostgreSQL in \(cluster.directory.path)")
        try cluster.initializeIfNeeded()
        try cluster.start()
        self.cluster = cluster
        conninfo = try cluster.createDatabase("bench")
        self.token = "bench-admin-token"
        let digest = SHA256.hash(data: Array(self.token.utf8)).map { String(format: "%02x", $0) }.joined()
        try "admin \(digest) bench\n".write(to: folder.appending(path: "tokens"), atomically: true, encoding: .utf8)
        port = try LoopbackPort.free()
        if metrics { metricsPort = try LoopbackPort.free() }
        if http { httpPort = try LoopbackPort.free() }
        self.daemonArguments = daemonArguments
        try startDaemon()
    }

    static var daemonBinary: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appending(path: "recoveryd").path
    }

    mutating func startDaemon() throws {
        guard let folder, let conninfo else { return }
        daemon = try ChildProcess.spawn(
            Self.daemonBinary,
            [
                "serve", "--listen", "127.0.0.1:\(port)", "--database", conninfo, "--token-file",
                folder.appending(path: "tokens").path, "--data-dir", folder.path, "--log-level", "warning",
            ] + (metricsPort.map { ["--metrics-listen", "127.0.0.1:\($0)"] } ?? []) + (httpPort.map { ["--http-listen", "127.0.0.1:\($0)"] } ?? []) + daemonArguments,
            output: folder.appending(path: "recoveryd.log").path)
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if (try? LineClient(host: host, port: port)) != nil, httpPort.map({ (try? LineClient(host: host, port: $0)) != nil }) ?? true { return }
            usleep(5_000)
        }
        throw ClientError("recoveryd did not start; see \(folder.appending(path: "recoveryd.log").path)")
    }

    /// `recoveryd_appends_total{result="recorded"}` from the daemon's `/metrics`.
    func scrapeRecordedAppends() -> Int? {
        guard let metricsPort, let http = try? LineClient(host: host, port: metricsPort) else { return nil }
        try? http.send("GET /metrics HTTP/1.0\r\nHost: \(host)\r\n\r\n")
        while let line = try? http.readLine() {
            if line.hasPrefix(#"recoveryd_appends_total{result="recorded"} "#) {
                return Int(line.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "")
            }
        }
        return nil
    }

    /// SIGTERM, wait, start again: seconds until the new one accepts connections.
    mutating func measureRestart() throws -> (events: Int64, seconds: Double) {
        let events = try head()
        kill(daemon, SIGTERM)
        var status: Int32 = 0
        waitpid(daemon, &status, 0)
        let start = Date()
        try startDaemon()
        return (events, Date().timeIntervalSince(start))
    }

    func head() throws -> Int64 {
        let connection = try LineClient(host: host, port: port)
        let hello = try Answer(try connection.request("HELLO \(token)"))
        return (hello.object?["position"] as? NSNumber)?.int64Value ?? 0
    }

    /// Appends at full speed until the log holds `target` events.
    func fill(to target: Int64, connections: Int, depth: Int) throws {
        while try head() < target {
            let missing = Double(target - (try head()))
            let seconds = max(2, min(60, missing / 15_000))
            _ = try AppendLoad().run(host: host, port: port, token: token, connections: connections, depth: depth, seconds: seconds, rate: nil)
            progress("log at \(try head()) events")
        }
    }

    /// Runs `recoveryd rebuild --check` and returns its report line.
    func rebuildCheck() throws -> String { try rebuild("--check") }

    /// Runs `recoveryd rebuild <mode>` and returns its report line.
    func rebuild(_ mode: String) throws -> String {
        guard let folder, let conninfo else { return "–" }
        let output = folder.appending(path: "rebuild.out").path
        let pid = try ChildProcess.spawn(Self.daemonBinary, ["rebuild", mode, "--database", conninfo], output: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").last { $0.hasPrefix("rebuild \(mode)") }.map(String.init) ?? "failed: \(text.suffix(300))"
    }

    /// SIGTERM to the daemon, and waits for it to end.
    mutating func stopDaemon() {
        guard daemon != 0 else { return }
        kill(daemon, SIGTERM)
        var status: Int32 = 0
        waitpid(daemon, &status, 0)
        daemon = 0
    }

    /// The daemon's resident memory (VmRSS) in KiB.
    func daemonRSSKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(daemon)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    mutating func tearDown() {
        if daemon != 0 {
            kill(daemon, SIGTERM)
            var status: Int32 = 0
            waitpid(daemon, &status, 0)
            daemon = 0
        }
        try? cluster?.stop()
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }
}

/// PostgreSQL's own ceiling for the rows recoveryd wrote: the same rows copied
/// into a twin table by COPY in 1,000-row transactions, and inserted one row
/// per transaction.
enum Ceiling {
    static func measure(conninfo: String, maxRows: Int, singleRowSeconds: Double) throws
        -> (copyPerSecond: Double, singlePerSecond: Double, single8PerSecond: Double)
    {
        let connection = try PGConnection(conninfo)
        try connection.execute("DROP TABLE IF EXISTS events_twin; CREATE TABLE events_twin (LIKE events INCLUDING ALL)")
        var rows: [[UInt8]] = []
        try connection.copyOut("COPY (SELECT * FROM events ORDER BY position LIMIT \(maxRows)) TO STDOUT") { rows.append(Array($0)) }
        let start = Date()
        for chunk in stride(from: 0, to: rows.count, by: 1_000) {
            _ = try connection.transaction {
                try connection.copyIn("COPY events_twin FROM STDIN", data: rows[chunk..<min(chunk + 1_000, rows.count)].flatMap { $0 })
            }
        }
        let copySeconds = Date().timeIntervalSince(start)
        try connection.execute("TRUNCATE events_twin")
        let single = try singleRows(conninfo: conninfo, connections: 1, rows: rows.count, seconds: singleRowSeconds)
        try connection.execute("TRUNCATE events_twin")
        let single8 = try singleRows(conninfo: conninfo, connections: 8, rows: rows.count, seconds: singleRowSeconds)
        try connection.execute("DROP TABLE events_twin")
        return (Double(rows.count) / copySeconds, single, single8)
    }

    /// One `INSERT` per transaction from `connections` concurrent connections
    /// (each its own rows), for `seconds`: rows per second in all.
    static func singleRows(conninfo: String, connections: Int, rows: Int, seconds: Double) throws -> Double {
        let counts = ResultCounts(connections)
        let start = Date()
        let threads = (0..<connections).map { index in
            Thread {
                defer { counts.done() }
                guard let connection = try? PGConnection(conninfo) else { return }
                var position = index + 1
                while Date().timeIntervalSince(start) < seconds && position <= rows {
                    guard (try? connection.query("INSERT INTO events_twin SELECT * FROM events WHERE position = $1", [.int(position)])) != nil
                    else { return }
                    counts.add(1, at: index)
                    position += connections
                }
            }
        }
        threads.forEach { $0.start() }
        counts.waitForAll(threads.count)
        return Double(counts.total) / Date().timeIntervalSince(start)
    }
}

/// Counters the ceiling's threads add to, and their finishing.
final class ResultCounts: Sendable {
    private let counts: Mutex<[Int]>
    private let finished = DispatchSemaphore(value: 0)

    init(_ slots: Int) { counts = Mutex(Array(repeating: 0, count: slots)) }

    func add(_ count: Int, at slot: Int) { counts.withLock { $0[slot] += count } }

    var total: Int { counts.withLock { $0.reduce(0, +) } }

    /// A thread is done.
    func done() { finished.signal() }

    /// Returns once `threads` threads said they are done.
    func waitForAll(_ threads: Int) { for _ in 0..<threads { finished.wait() } }
}

/// BUDGET and CASE latencies from one connection, one request at a time.
enum Queries {
    static func measure(environment: BenchEnvironment, seconds: Double, cases: () -> [String]) throws -> (budget: Latencies, caseQuery: Latencies) {
        let connection = try LineClient(host: environment.host, port: environment.port)
        _ = try connection.request("HELLO \(environment.token)")
        var budget = Latencies()
        var caseQuery = Latencies()
        let deadline = Date().addingTimeInterval(seconds)
        var n = 0
        usleep(200_000)
        while Date() < deadline {
            n += 1
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try connection.request("BUDGET ag-\(n % 64)-\(n % 64)")
            budget.samples.append(UInt32((DispatchTime.now().uptimeNanoseconds - start) / 1_000))
            let known = cases()
            guard !known.isEmpty else { continue }
            let caseStart = DispatchTime.now().uptimeNanoseconds
            _ = try connection.request("CASE \(known[n % known.count])")
            caseQuery.samples.append(UInt32((DispatchTime.now().uptimeNanoseconds - caseStart) / 1_000))
        }
        return (budget, caseQuery)
    }
}

/// REPLAY to one client, and PostgreSQL's COPY … TO STDOUT of the payloads.
enum Replay {
    static func measure(environment: BenchEnvironment) throws -> [String: Any] {
        let connection = try LineClient(host: environment.host, port: environment.port, timeoutSeconds: 600)
        _ = try connection.request("HELLO \(environment.token)")
        let start = Date()
        try connection.send("REPLAY 1\n")
        var count = 0
        while let line = try connection.readLineBytes() {
            if line.starts(with: Array("EVENT ".utf8)) { count += 1 } else { break }
        }
        let seconds = Date().timeIntervalSince(start)
        return ["events": count, "replay_events_per_s": Int(Double(count) / seconds)]
    }

    static func copyOut(conninfo: String) throws -> Double {
        let connection = try PGConnection(conninfo)
        var rows = 0
        let start = Date()
        try connection.copyOut("COPY (SELECT payload FROM events ORDER BY position) TO STDOUT") { _ in rows += 1 }
        return Double(rows) / Date().timeIntervalSince(start)
    }
}
