import Foundation
import LedgerStore
import PostgresTestSupport
import Testing

/// `--metrics-listen` (issue 14): `/metrics` after known traffic moves by
/// exactly that traffic; `/healthz` and `/readyz` follow the database.
@Suite("Metrics and health", .tags(.processes))
struct MetricsEndToEndTests {
    /// The bearer token of `--metrics-token-file` in these tests.
    static let token = "metrics-token-for-the-tests"

    /// A token file for the daemon (mode 0600), in `folder`.
    static func tokenFile(in folder: URL) throws -> String {
        let path = folder.appending(path: "metrics.token").path
        try token.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// `curl` against the endpoint: the status and the body (with the bearer token unless `token` is nil).
    static func get(_ port: Int, _ path: String, token: String? = Self.token) throws -> (status: Int, body: String) {
        let output = try ChildProcess.run(
            "/usr/bin/curl",
            ["-s", "--max-time", "10", "-w", "\n%{http_code}"] + (token.map { ["-H", "Authorization: Bearer \($0)"] } ?? [])
                + ["http://127.0.0.1:\(port)\(path)"])
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.removeLast()) ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    /// Every sample of a Prometheus text exposition, by name and labels as written.
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func countersMoveByExactlyTheTrafficAndReadinessFollowsTheDatabase() throws {
        let testStarted = Date()
        let postgres = try TestPostgres.dedicated()
        let metricsPort = try Daemon.freePort()
        let daemon = try Daemon(
            conninfo: try postgres.database(),
            arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)", "--metrics-token-file", try Self.tokenFile(in: postgres.cluster.directory)])
        #expect(try Self.get(metricsPort, "/healthz") == (200, "ok\n"))
        #expect(try Self.get(metricsPort, "/readyz").status == 200)
        #expect(try Self.get(metricsPort, "/nothing").status == 404)
        // With a token file, /metrics wants the token; health does not.
        #expect(try Self.get(metricsPort, "/metrics", token: nil).status == 401)
        #expect(try Self.get(metricsPort, "/metrics", token: "wrong-token-of-some-length").status == 401)
        #expect(try Self.get(metricsPort, "/healthz", token: nil).status == 200)
        let before = Self.samples(try Self.get(metricsPort, "/metrics").body)
        #expect(before[#"recoveryd_appends_total{result="recorded"}"#] == 0)
        #expect(before["recoveryd_database_up"] == 1)

        // Known traffic: three complaints and a compensation recorded, one
        // retried (a duplicate), one invalid, one over the allowance; a replay
        // of three events.
        let front = try daemon.client("frontline")
        for n in 1...3 { #expect(okObject(try front.request("APPEND " + Events.complaint(n, caseID: "M-\(n)"))) != nil) }
        #expect(okObject(try front.request("APPEND " + Events.complaint(1, caseID: "M-1")))?["duplicate"] as? Bool == true)
        #expect(okObject(try front.request("APPEND " + Events.compensation(10, caseID: "M-1", amount: 170_000, agent: "A-7"))) != nil)
        #expect(errorCode(try front.request("APPEND " + Events.compensation(11, caseID: "M-2", amount: 40_000, agent: "A-7"))) == "budget_exceeded")
        #expect(errorCode(try front.request(#"APPEND {"type":"complaint"}"#)) == "invalid")
        let auditor = try daemon.client("auditor")
        try auditor.send("REPLAY 1 3\n")
        var lines = 0
        while let line = try auditor.readLine(), !line.hasPrefix("OK") { lines += 1 }
        #expect(lines == 3)

        let after = Self.samples(try Self.get(metricsPort, "/metrics").body)
        func moved(_ name: String) -> Double { (after[name] ?? 0) - (before[name] ?? 0) }
        #expect(moved(#"recoveryd_appends_total{result="recorded"}"#) == 4)
        #expect(moved(#"recoveryd_appends_total{result="duplicate"}"#) == 1)
        #expect(moved(#"recoveryd_appends_total{result="budget_exceeded"}"#) == 1)
        #expect(moved(#"recoveryd_appends_total{result="invalid"}"#) == 1)
        #expect(moved("recoveryd_append_seconds_count") == 7)
        // The invalid one never reached the writer: six appends were decided in batches.
        #expect(moved("recoveryd_batch_size_sum") == 6)
        #expect(moved("recoveryd_commit_seconds_count") == moved("recoveryd_batch_size_count"))
        #expect(moved(#"recoveryd_replay_events_total{stream="replay"}"#) == 3)
        #expect(after["recoveryd_chain_position"] == 4)
        #expect(after[#"recoveryd_connections{role="frontline"}"#] == 1)
        #expect(after[#"recoveryd_connections{role="auditor"}"#] == 1)
        #expect(after[#"recoveryd_compensation_today_minor_units{currency="USD"}"#] == 170_000)
        #expect(after["recoveryd_people_over_80_percent_of_allowance"] == 1, "170,000 of 200,000 is 85%")
        #expect(after["recoveryd_writer_queue_depth"] == 0)
        #expect(after["recoveryd_writer_holds_lock"] == 1)
        #expect(after[#"recoveryd_append_seconds_bucket{le="+Inf"}"#] == after["recoveryd_append_seconds_count"])

        // STATUS, and recoveryctl status, say the same.
        let status = try #require(okObject(try auditor.request("STATUS")))
        #expect(status["mode"] as? String == "writer" && status["database"] as? String == "up" && status["position"] as? Int == 4)
        #expect((status["connections_by_role"] as? [String: Int]) == ["frontline": 1, "auditor": 1])
        // The daemon started within this test, so its uptime is within the test's own.
        let started = try #require((status["started_at"] as? String).flatMap { ISO8601DateFormatter.withFractions.date(from: $0) })
        #expect(started >= testStarted.addingTimeInterval(-1) && started <= Date())
        #expect((status["uptime_seconds"] as? Int).map { $0 <= Int(Date().timeIntervalSince(testStarted)) + 1 } == true)
        let ctl = try RecoveryCtlTests.ctl(daemon, "finance", ["status"])
        #expect(ctl.status == 0, "\(ctl.output)")
        #expect(ctl.output.contains("mode         writer") && ctl.output.contains("database     up") && ctl.output.contains("position     4"), "\(ctl.output)")

        // Without its database the daemon is alive but not ready; then ready again.
        try postgres.cluster.stop(mode: "fast")
        #expect(okObject(try auditor.request("STATUS"))?["database"] as? String == "down")
        #expect(try Self.get(metricsPort, "/healthz").status == 200)
        let down = try Self.get(metricsPort, "/readyz")
        #expect(down.status == 503)
        #expect(down.body.contains("database is unavailable"), "\(down.body)")
        #expect(Self.samples(try Self.get(metricsPort, "/metrics").body)["recoveryd_database_up"] == 0)
        try waitFor("the idle writer to notice") { okObject(try auditor.request("STATUS"))?["writer_connected"] as? Bool == false }
        try postgres.cluster.start()
        try waitFor("ready again") { try Self.get(metricsPort, "/readyz").status == 200 }
        // The idle writer found its lost connection and reconnected: the next append just works.
        #expect(okObject(try front.request("APPEND " + Events.complaint(20, caseID: "M-20"))) != nil)
        daemon.stop()
    }

    @Test func withoutATokenMetricsServeNoFinanceFigure() throws {
        let metricsPort = try Daemon.freePort()
        let daemon = try Daemon(arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        let scraped = try Self.get(metricsPort, "/metrics", token: nil)
        #expect(scraped.status == 200)
        #expect(scraped.body.contains("recoveryd_chain_position"))
        #expect(!scraped.body.contains("recoveryd_compensation_today") && !scraped.body.contains("allowance"), "\(scraped.body)")
    }

    /// Slow and idle clients of the metrics port are closed within its
    /// timeouts, its connections are capped, and the line port answers
    /// meanwhile as if nothing happened.
    @Test func slowAndIdleMetricsClientsAreClosedAndNeverDelayTheLinePort() throws {
        let metricsPort = try Daemon.freePort()
        let daemon = try Daemon(arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)"])
        // 40 connections: 16 idle, the rest a partial request trickled byte by byte.
        var sockets = PreAuthFairnessEndToEndTests.silentConnections(40, from: "127.0.0.3", to: metricsPort)
        defer { sockets.forEach { close($0) } }
        usleep(300_000)
        for fd in sockets.suffix(24) { _ = "GET /metr".withCString { write(fd, $0, 9) } }
        // The line port is not delayed.
        let started = ContinuousClock.now
        let client = try daemon.client("auditor")
        #expect(okObject(try client.request("STATUS")) != nil)
        #expect(ContinuousClock.now - started < .seconds(1))
        // Past the cap, connections are closed at once; the rest within the read timeout (5 s) or the request timeout (10 s).
        /// Whether the server closed `fd` (whatever it answered before: read and dropped).
        func closed(_ fd: Int32) -> Bool {
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while true {
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 { continue }
                return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
            }
        }
        usleep(500_000)
        #expect(sockets.filter(closed).count >= 24, "past the cap of 16, closed at once")
        let deadline = Date().addingTimeInterval(12)
        while Date() < deadline, !sockets.allSatisfy(closed) {
            for fd in sockets { _ = "x".withCString { send(fd, $0, 1, Int32(MSG_NOSIGNAL)) } }
            usleep(500_000)
        }
        #expect(sockets.allSatisfy(closed), "every slow or idle metrics connection is closed within the timeouts")
        sockets.forEach { close($0) }
        sockets = []
        #expect(try Self.get(metricsPort, "/healthz", token: nil).status == 200, "and the port serves again")
    }

    @Test func aStandbyIsAliveButNotReady() throws {
        let conninfo = try TestPostgres.database(migrated: true)
        let writer = try Daemon(conninfo: conninfo)
        let metricsPort = try Daemon.freePort()
        let standby = try Daemon(conninfo: conninfo, arguments: ["--standby", "--metrics-listen", "127.0.0.1:\(metricsPort)"])
        #expect(try Self.get(metricsPort, "/healthz").status == 200)
        let readiness = try Self.get(metricsPort, "/readyz")
        #expect(readiness.status == 503)
        #expect(readiness.body.contains("standby"), "\(readiness.body)")
        let scraped = Self.samples(try Self.get(metricsPort, "/metrics").body)
        #expect(scraped["recoveryd_writer_holds_lock"] == 0)
        #expect(scraped["recoveryd_replication_lag_positions"] == -1, "a standby has no replica to lag behind")
        writer.stop()
        try waitFor("the standby to take over") { try Self.get(metricsPort, "/readyz").status == 200 }
        standby.stop()
    }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with fractional seconds, as the daemon writes times.
    static var withFractions: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}

/// deploy/prometheus (issue 14): the scrape configuration and the alert rules
/// pass promtool, each alert fires on the series it is for (promtool's rule
/// tests), and every recoveryd metric a rule names is one the daemon serves.
@Suite("The Prometheus configuration", .tags(.processes))
struct PrometheusConfigurationTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appending(path: "deploy/prometheus")

    @Test func promtoolAcceptsTheConfigurationAndTheRulesAndTheirTests() throws {
        let promtool = "/usr/bin/promtool"
        #expect(FileManager.default.isExecutableFile(atPath: promtool), "deploy/install-deps.sh installs Debian's prometheus package")
        // The configuration reads the bearer token from a file beside it: checked with one in place.
        let copy = FileManager.default.temporaryDirectory.appending(path: "prometheus-\(UUID().uuidString.prefix(8))")
        try FileManager.default.copyItem(at: Self.folder, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        try MetricsEndToEndTests.token.write(to: copy.appending(path: "recoveryd-metrics.token"), atomically: true, encoding: .utf8)
        let config = try ChildProcess.run(promtool, ["check", "config", "prometheus.yml"], currentDirectory: copy)
        #expect(config.contains("SUCCESS: 1 rule files found"), "\(config)")
        let rules = try ChildProcess.run(promtool, ["check", "rules", "recoveryd-alerts.yml"], currentDirectory: Self.folder)
        #expect(rules.contains("SUCCESS: 7 rules found"), "\(rules)")
        let tests = try ChildProcess.run(promtool, ["test", "rules", "recoveryd-alerts.test.yml"], currentDirectory: Self.folder)
        #expect(tests.contains("SUCCESS"), "\(tests)")
    }

    @Test func everyMetricTheRulesNameIsServed() throws {
        let rules = try String(contentsOf: Self.folder.appending(path: "recoveryd-alerts.yml"), encoding: .utf8)
        let named = Set(rules.matches(of: /recoveryd_[a-z0-9_]+/).map { String($0.output) })
        #expect(named.count >= 6)
        let metricsPort = try Daemon.freePort()
        let folder = FileManager.default.temporaryDirectory.appending(path: "metrics-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let daemon = try Daemon(arguments: ["--metrics-listen", "127.0.0.1:\(metricsPort)", "--metrics-token-file", try MetricsEndToEndTests.tokenFile(in: folder)])
        _ = try daemon.client("frontline").request("APPEND " + Events.complaint(1, caseID: "P-1"))
        let body = try MetricsEndToEndTests.get(metricsPort, "/metrics").body
        let served = Set(MetricsEndToEndTests.samples(body).keys.map { String($0.prefix { $0 != "{" }) })
        for name in named {
            #expect(served.contains(name), "\(name) is named by a rule but not served")
        }
        #expect(MetricsEndToEndTests.samples(body)["recoveryd_replication_lag_positions"] == 0, "the writer has no lag")
        // The exposition is well formed, every metric with its HELP (promtool's lint).
        let file = daemon.folder.appending(path: "metrics.txt")
        try body.write(to: file, atomically: true, encoding: .utf8)
        let lint = try ChildProcess.run("/bin/sh", ["-c", "/usr/bin/promtool check metrics < '\(file.path)' 2>&1"])
        #expect(!lint.contains("no help text"), "\(lint)")
        // And every metric served is documented.
        let operations = try String(
            contentsOf: Self.folder.deletingLastPathComponent().deletingLastPathComponent().appending(path: "docs/OPERATIONS.md"), encoding: .utf8)
        let families = Set(body.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.compactMap { $0.split(separator: " ").dropFirst(2).first.map(String.init) })
        #expect(families.count >= 18)
        for family in families {
            #expect(body.contains("# HELP \(family) "), "\(family) has no HELP")
            let documented = operations.contains("`\(family)`") || operations.contains("`\(family){")
                || (family.hasSuffix("_seconds") && operations.contains("`\(family.replacingOccurrences(of: "_seconds", with: "_positions"))`, `_seconds`"))
            #expect(documented, "\(family) is not in docs/OPERATIONS.md")
        }
        daemon.stop()
    }
}
