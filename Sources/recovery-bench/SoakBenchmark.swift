import ArgumentParser
import Foundation
import LedgerStore
import Synchronization
import RecoveryTesting
import RecoveryWire

/// `recovery-bench soak`: appends for a set time and prints the daemon's
/// resident memory every 10 s, then while it sits idle — what the writer
/// keeps in memory as the ledger grows (docs/BENCHMARKS.md, "Memory over a
/// long run"). With the private PostgreSQL it also prints how many of the
/// projection tables' updates were HOT (PostgreSQL updated the row in place).
struct SoakBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak", abstract: "Append for a while, printing the daemon's RSS every 10 s (starts its own daemon and PostgreSQL).")

    @Option(help: "Seconds of appends.") var seconds = 240.0
    @Option(help: "Seconds to watch the daemon idle afterwards.") var idleSeconds = 30.0
    @Option(help: "Client connections appending.") var connections = 64
    @Option(help: "Requests in flight per connection.") var depth = 8
    @Option(help: "The daemon's --state-cache-mib (default: its own default).") var stateCacheMib: Int?
    @Option(help: "Stop appending once the log holds this many events (or when --seconds have passed, whichever is first).")
    var events: Int64?
    @Option(
        help: ArgumentHelp(
            "Set the ledger's default_allowance (minor units) before appending, so that a long run's compensations are not refused once the bench's agents have spent their day.",
            valueName: "minor-units"))
    var allowance: Int64?

    func run() throws {
        var environment = try BenchEnvironment(
            server: nil, token: nil, database: nil, daemonArguments: stateCacheMib.map { ["--state-cache-mib", "\($0)"] } ?? [])
        defer { environment.tearDown() }
        let (host, port, token) = (environment.host, environment.port, environment.token)
        if let allowance { try Self.setDefaultAllowance(allowance, host: host, port: port, token: token) }
        let started = Date()
        let load = Mutex<AppendLoad.Result?>(nil)
        let appends = AppendLoad()
        let done = DispatchGroup()
        done.enter()
        let (connections, depth, seconds) = (connections, depth, seconds)
        Thread.detachNewThread {
            let result = try? appends.run(host: host, port: port, token: token, connections: connections, depth: depth, seconds: seconds, rate: nil)
            load.withLock { $0 = result }
            done.leave()
        }
        print("   s   events in log   RSS MiB   phase")
        var lastPrint = Date()
        func sample(_ phase: String) {
            let position = (try? environment.head()) ?? -1
            print(
                String(format: "%4.0f", Date().timeIntervalSince(started)) + "   " + "\(position)".leftPadded(13) + "   "
                    + String(format: "%7.1f", Double(environment.daemonRSSKiB()) / 1_024) + "   " + phase)
            fflush(nil)
        }
        sample("start")
        while done.wait(timeout: .now() + 1) == .timedOut {
            if Date().timeIntervalSince(lastPrint) >= 10 {
                sample("appending")
                lastPrint = Date()
            }
            if let events, let position = try? environment.head(), position >= events { appends.stop() }
        }
        sample("appends done")
        let idleStart = Date()
        while Date().timeIntervalSince(idleStart) < idleSeconds {
            Thread.sleep(forTimeInterval: min(10, idleSeconds - Date().timeIntervalSince(idleStart)))
            sample("idle")
        }
        if let result = load.withLock({ $0 }) {
            print("appended \(result.accepted) (refused \(result.refused)) at \(Int(result.eventsPerSecond)) events/s")
            for (code, count) in result.errors.sorted(by: { $0.key < $1.key }) { print("  refused \(code): \(count)") }
        }
        if let conninfo = environment.conninfo { try HOTCounts.read(conninfo).since(HOTCounts()).printTable() }
    }

    /// Records `default_allowance` = `minor` as the admin (a `ledger_setting`
    /// event, as `recoveryctl settings set` would).
    static func setDefaultAllowance(_ minor: Int64, host: String, port: Int, token: String) throws {
        let connection = try LineClient(host: host, port: port, timeoutSeconds: 60)
        guard (try? connection.request("HELLO \(token)"))?.hasPrefix("OK") == true else { throw ClientError("HELLO refused") }
        let event = #"{"event_id":"\#(UUID().uuidString.lowercased())","type":"ledger_setting","agent_id":"recovery-bench","name":"default_allowance","value":\#(minor)}"#
        let answer = try connection.request("APPEND " + event)
        guard answer.hasPrefix("OK") else { throw ClientError("setting default_allowance was refused: \(answer)") }
        print("default_allowance set to \(minor)")
    }
}

/// Updates per table and how many of them PostgreSQL made in place (HOT:
/// no index touched), from `pg_stat_user_tables`. The statistics reach that
/// view up to a second after a transaction ends, so `read` waits for them.
struct HOTCounts {
    var tables: [String: (updates: Int, hot: Int)] = [:]

    static func read(_ conninfo: String) throws -> HOTCounts {
        Thread.sleep(forTimeInterval: 1.5)
        let rows = try PGConnection(conninfo, timeouts: .maintenance).query(
            "SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables")
        var counts = HOTCounts()
        for row in 0..<rows.rowCount {
            counts.tables[rows.string(row, 0) ?? "?"] = (Int(rows.string(row, 1) ?? "0") ?? 0, Int(rows.string(row, 2) ?? "0") ?? 0)
        }
        return counts
    }

    /// What changed since `earlier`, tables with updates only.
    func since(_ earlier: HOTCounts) -> HOTCounts {
        var delta = HOTCounts()
        for (name, now) in tables {
            let then = earlier.tables[name] ?? (0, 0)
            if now.updates > then.updates { delta.tables[name] = (now.updates - then.updates, now.hot - then.hot) }
        }
        return delta
    }

    /// `table: HOT of updates (percent)` per table, most updated first.
    var summary: [String: String] {
        tables.mapValues { "\($0.hot) of \($0.updates) (\(Self.percent($0)))" }
    }

    func printTable() {
        print("table                 updates     HOT   HOT %")
        for (name, counts) in tables.sorted(by: { $0.value.updates > $1.value.updates }) {
            print(name.padding(toLength: 18, withPad: " ", startingAt: 0) + "\(counts.updates)".leftPadded(11) + "\(counts.hot)".leftPadded(8)
                + Self.percent(counts).leftPadded(8))
        }
    }

    static func percent(_ counts: (updates: Int, hot: Int)) -> String {
        String(format: "%.1f%%", counts.updates > 0 ? Double(counts.hot) * 100 / Double(counts.updates) : 0)
    }
}
