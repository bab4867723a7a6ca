import RecoveryWire
import ArgumentParser
import Foundation
import LedgerStore
import RecoveryClient
import RecoveryDomain

/// `recovery-bench scale`: recoveryd on a big ledger. The log is filled
/// straight through the store (the same batch decider and projection writes as
/// the daemon, without the network) to `--events` events with `--open-cases`
/// cases still open; then start-up time, the daemon's memory, appends at that
/// size, and `rebuild --check` and `--write`.
struct ScaleBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "Measure start-up, memory, appends and rebuild on a ledger of millions of events.")

    @Option(help: "Events in the log.") var events = 10_000_000
    @Option(help: "Cases left open (two events each; the rest are closed cases of four events).") var openCases = 1_000_000
    @Option(help: "Client connections appending.") var connections = 64
    @Option(help: "Requests in flight per connection.") var depth = 8
    @Option(help: "Seconds of appends at that size.") var seconds = 10.0
    @Flag(help: "Print JSON instead of a table.") var json = false

    func validate() throws {
        guard openCases >= 0, events >= 2 * openCases else { throw ValidationError("--events must be at least twice --open-cases") }
    }

    func run() throws {
        var environment = try BenchEnvironment(server: nil, token: nil, database: nil)
        defer { environment.tearDown() }
        environment.stopDaemon()
        guard let conninfo = environment.conninfo else { return }
        var report: [(String, [String: Any])] = []

        let fillStart = Date()
        let filled = try Self.fill(conninfo: conninfo, events: events, openCases: openCases)
        let fillSeconds = Date().timeIntervalSince(fillStart)
        report.append((
            "fill (store, no network)", [
                "events": filled, "open_cases": openCases, "seconds": String(format: "%.0f", fillSeconds),
                "events_per_s": Int(Double(filled) / fillSeconds),
            ]))

        progress("start-up with \(filled) events and \(openCases) open cases")
        let started = Date()
        try environment.startDaemon()
        let toListen = Date().timeIntervalSince(started)
        let rssAtStart = environment.daemonRSSKiB()
        progress("appends: \(connections) connections × depth \(depth) for \(seconds) s")
        let load = try AppendLoad().run(
            host: environment.host, port: environment.port, token: environment.token, connections: connections, depth: depth,
            seconds: seconds, rate: nil)
        let rssAfterLoad = environment.daemonRSSKiB()
        report.append((
            "daemon at that size", [
                "seconds_to_listen": String(format: "%.2f", toListen), "rss_mib_at_start": rssAtStart / 1024,
                "rss_mib_after_appends": rssAfterLoad / 1024, "appends_per_s": Int(load.eventsPerSecond),
                "append_p99_ms": load.latencies.summary["p99_ms"] ?? "–",
            ]))
        environment.stopDaemon()
        progress("rebuild --check")
        let check = try environment.rebuild("--check")
        progress("rebuild --write")
        let write = try environment.rebuild("--write")
        report.append(("rebuild", ["check": check, "write": write]))

        try printReport(report, json: json)
    }

    /// Appends closed cases (complaint, apology, compensation, resolved
    /// follow-up) and then open ones (complaint, apology), recorded over the
    /// year before now, in batches of 5,000 through the batch decider.
    static func fill(conninfo: String, events: Int, openCases: Int) throws -> Int {
        let log = try EventLog(connection: PGConnection(conninfo, timeouts: .maintenance))
        var state = try Projections(connection: log.connection).workingState(now: Timestamp(Date()))
        let closedCases = (events - 2 * openCases) / 4
        let total = closedCases * 4 + openCases * 2
        let span: Int64 = 365 * 86_400 * 1_000_000
        let first = Timestamp(Date()).microseconds - span - 86_400 * 1_000_000
        var day: BusinessDay?
        var batch: [Submission] = []
        var written = 0
        var serial = 0
        func id() -> EventID {
            serial += 1
            return EventID(String(format: "5ca1e000-0000-4000-8000-%012x", serial))!
        }
        func flush(at index: Int) throws {
            guard !batch.isEmpty else { return }
            let at = Timestamp(microseconds: first + Int64(Double(span) * Double(index) / Double(max(total, 1))))
            let today = state.settingsHistory.businessDay(of: at)
            if day != today {
                state.evictSettled(before: today)
                day = today
            }
            let decision = Ledger.decide(batch: batch, existing: [:], state: state, at: at)
            let refused = decision.outcomes.filter { if case .refused = $0 { true } else { false } }.count
            guard refused == 0 else { throw ValidationError("the fill's own events were refused (\(refused))") }
            let text = at.description
            let rows = zip(decision.records, decision.digests).map { EventRow($0, contentDigest: $1, recordedAtText: text) }
            try log.append(rows) { try Projections(connection: $0).write(decision.delta) }
            state.apply(decision.delta)
            written += rows.count
            batch.removeAll(keepingCapacity: true)
            if written % 500_000 < rows.count { progress("fill: \(written) of \(total) events") }
        }
        func add(_ event: Event) {
            batch.append(Submission(event: event, contentDigest: HashChain.digest(EventCodec.canonicalContent(of: event))))
        }
        var index = 0
        for n in 0..<(closedCases + openCases) {
            let caseID = "scale-\(n)"
            let agent = "agent-\(n % 2_000)"
            add(
                Event(
                    eventID: id(), agentID: agent, caseID: caseID,
                    body: .complaint(Complaint(customerID: "cust-\(n)", channel: .phone, category: "late delivery", severity: 3, baseline: 6))))
            add(Event(eventID: id(), agentID: agent, caseID: caseID, body: .apology(Apology(note: "Sorry for the wait."))))
            if n < closedCases {
                add(
                    Event(
                        eventID: id(), agentID: agent, caseID: caseID,
                        body: .compensation(Compensation(amount: 500, currency: state.settingsHistory.currency, kind: .credit))))
                add(Event(eventID: id(), agentID: agent, caseID: caseID, body: .followUp(FollowUp(satisfaction: 8, resolved: true))))
            }
            index += n < closedCases ? 4 : 2
            if batch.count >= 5_000 { try flush(at: index) }
        }
        try flush(at: index)
        try log.releaseLock()
        return written
    }
}
