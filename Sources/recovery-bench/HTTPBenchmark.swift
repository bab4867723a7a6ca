import ArgumentParser
import Foundation
import RecoveryTesting
import Synchronization

/// `recovery-bench http`: durable appends through `POST /v1/events` beside
/// the line protocol's, in one run on one daemon (docs/BENCHMARKS.md, "The
/// HTTP API"): the line protocol pipelined, HTTP with a batch per request,
/// and HTTP with one event per request over keep-alive connections.
struct HTTPBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http", abstract: "Benchmark appends over the HTTP API beside the line protocol (starts its own daemon and PostgreSQL).")

    @Option(help: "Seconds per phase.") var seconds = 10.0
    @Option(help: "Line protocol: connections appending.") var connections = 64
    @Option(help: "Line protocol: requests in flight per connection.") var depth = 8
    @Option(help: "HTTP batched: connections, one request in flight on each.") var batchConnections = 16
    @Option(help: "HTTP batched: events per request.") var batch = 100
    @Option(help: "HTTP one event per request: keep-alive connections.") var singleConnections = 64
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        var environment = try BenchEnvironment(server: nil, token: nil, database: nil, http: true)
        defer { environment.tearDown() }
        guard let httpPort = environment.httpPort else { throw ValidationError("the daemon has no HTTP port") }
        var report: [(String, [String: Any])] = []

        progress("line protocol: \(connections) connections × depth \(depth) for \(seconds) s")
        let lineCPU = environment.cpu()
        let line = try AppendLoad().run(
            host: environment.host, port: environment.port, token: environment.token, connections: connections, depth: depth, seconds: seconds, rate: nil)
        report.append(("line APPEND (pipelined)", Self.row(line, environment, from: lineCPU, against: nil)))

        progress("HTTP: \(batchConnections) connections posting \(batch) events per request for \(seconds) s")
        let batchedCPU = environment.cpu()
        let batched = try HTTPAppendLoad.run(
            port: httpPort, token: environment.token, connections: batchConnections, batch: batch, seconds: seconds)
        report.append(("POST /v1/events, \(batch) per request (latency per request)", Self.row(batched, environment, from: batchedCPU, against: line)))

        progress("HTTP: \(singleConnections) keep-alive connections posting one event per request for \(seconds) s")
        let singleCPU = environment.cpu()
        let single = try HTTPAppendLoad.run(port: httpPort, token: environment.token, connections: singleConnections, batch: 1, seconds: seconds)
        report.append(("POST /v1/events, one per request", Self.row(single, environment, from: singleCPU, against: line)))
        if !(batched.errors.isEmpty && single.errors.isEmpty && line.errors.isEmpty) {
            report.append(("refusals", (line.errors.merging(batched.errors, uniquingKeysWith: +).merging(single.errors, uniquingKeysWith: +)) as [String: Any]))
        }
        try printReport(report, json: json)
    }

    /// A phase's line of the report: throughput, latency, refusals, the
    /// daemon's CPU per event since `before`, and the ratio to `line`.
    static func row(
        _ result: AppendLoad.Result, _ environment: BenchEnvironment, from before: (daemon: Double, postgres: [pid_t: Double])?,
        against line: AppendLoad.Result?
    ) -> [String: Any] {
        var row = result.latencies.summary as [String: Any]
        row["events_per_s"] = Int(result.eventsPerSecond)
        row["refused"] = result.refused
        let events = result.accepted + result.refused
        if let before, let after = environment.cpu(), events > 0 {
            row["daemon_cpu_us_per_event"] = String(format: "%.1f", (after.daemon - before.daemon) / Double(events) * 1e6)
        }
        if let line { row["vs_line"] = ratio(result.eventsPerSecond, line.eventsPerSecond) }
        return row
    }
}

/// Appends through `POST /v1/events`: each connection posts `batch` events
/// (an array, or one object when `batch` is 1), waits for the answer, and
/// posts the next, until the time is up.
enum HTTPAppendLoad {
    static func run(port: Int, token: String, connections: Int, batch: Int, seconds: Double) throws -> AppendLoad.Result {
        let total = Mutex(AppendLoad.Result())
        let deadline = Mutex(Date())
        let finished = DispatchGroup()
        // Connections are opened one at a time, each saying its token before
        // the next opens (as the line load says HELLO): a burst of silent
        // connections from one address meets max_unauthenticated_per_peer.
        let opened = DispatchSemaphore(value: 0)
        let go = DispatchGroup()
        go.enter()
        for index in 0..<connections {
            finished.enter()
            let thread = Thread {
                defer { finished.leave() }
                let client: HTTPClient
                do {
                    client = try HTTPClient(port: port, token: token, timeoutSeconds: 60)
                    _ = try client.get("/v1/hello")
                } catch {
                    total.withLock { $0.errors["connect: \(error)", default: 0] += 1 }
                    opened.signal()
                    return
                }
                opened.signal()
                go.wait()
                let deadline = deadline.withLock { $0 }
                var result = AppendLoad.Result()
                var latencies: [UInt32] = []
                // Connections numbered apart from the line phase's, so cases never collide.
                var script = CaseScript(connection: 10_000 + batch * 1_000 + index)
                do {
                    while Date() < deadline {
                        let events = (0..<batch).map { _ in script.next() }
                        let body = batch == 1 ? events[0] : "[" + events.joined(separator: ",") + "]"
                        let sent = DispatchTime.now().uptimeNanoseconds
                        let answer = try client.post("/v1/events", json: body)
                        latencies.append(UInt32(min(UInt64(UInt32.max), (DispatchTime.now().uptimeNanoseconds - sent) / 1_000)))
                        if batch == 1 {
                            if answer.status == 200 {
                                result.accepted += 1
                            } else {
                                result.refused += 1
                                result.errors[answer.object.flatMap { if case .string(let code)? = $0["code"] { code } else { nil } } ?? "\(answer.status)", default: 0] += 1
                            }
                        } else {
                            let text = answer.text
                            let receipts = text.components(separatedBy: #"{"receipt":"#).count - 1
                            let refusals = text.components(separatedBy: #"{"error":"#).count - 1
                            guard answer.status == 200, receipts + refusals == batch else {
                                result.errors["HTTP \(answer.status)", default: 0] += 1
                                continue
                            }
                            result.accepted += receipts
                            result.refused += refusals
                            if refusals > 0 { result.errors["in a batch", default: 0] += refusals }
                        }
                    }
                } catch {
                    result.errors["client: \(error)", default: 0] += 1
                }
                total.withLock { total in
                    total.accepted += result.accepted
                    total.refused += result.refused
                    total.latencies.merge(latencies)
                    for (key, value) in result.errors { total.errors[key, default: 0] += value }
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
            opened.wait()
        }
        let start = Date()
        deadline.withLock { $0 = start.addingTimeInterval(seconds) }
        go.leave()
        finished.wait()
        return total.withLock { total in
            total.seconds = Date().timeIntervalSince(start)
            return total
        }
    }
}
