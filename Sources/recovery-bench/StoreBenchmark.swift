import RecoveryWire
import ArgumentParser
import Foundation
import LedgerStore
import RecoveryDomain

/// `recovery-bench store`: events/s through the store alone (no network, no
/// deciding), for several batch sizes and both batch methods, next to `psql`'s
/// own `\copy` of the same rows into a twin table on the same cluster.
struct StoreBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Measure appends through LedgerStore alone against psql's COPY of the same rows.")

    @Option(help: "libpq conninfo of a database to use (default: a private cluster in a temporary folder).")
    var database: String?

    @Option(help: "Events appended per measurement.")
    var events = 20_000

    @Option(help: "Events appended per measurement with batches of 1 (one commit each).")
    var singleEvents = 2_000

    @Option(parsing: .upToNextOption, help: "Batch sizes to measure.")
    var batch: [Int] = [1, 100, 1_000]

    @Option(help: "Runs per measurement; the median is reported.")
    var repeats = 3

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() throws {
        let cluster: LocalCluster?
        if database == nil {
            let folder = FileManager.default.temporaryDirectory.appending(path: "recovery-bench-\(getpid())")
            let local = try LocalCluster(directory: folder)
            progress("starting a private PostgreSQL in \(folder.path)")
            try local.initializeIfNeeded()
            try local.start()
            cluster = local
        } else {
            cluster = nil
        }
        defer {
            if let cluster {
                try? cluster.stop()
                try? FileManager.default.removeItem(at: cluster.directory)
            }
        }
        var results: [[String: String]] = []
        var run = 0
        func freshDatabase() throws -> String {
            run += 1
            if let cluster { return try cluster.createDatabase("bench_\(run)") }
            // With --database every measurement shares it, appending after its head.
            return database!
        }

        for size in batch {
            for method in EventLog.BatchMethod.allCases {
                let count = size == 1 ? singleEvents : events
                var timings: [Double] = []
                for attempt in 1...repeats {
                    let conninfo = try freshDatabase()
                    try Migrator.migrate(PGConnection(conninfo))
                    let log = try EventLog(connection: PGConnection(conninfo))
                    log.batchMethod = method
                    let rows = Self.rows(count: count, after: log.head.position)
                    progress("batch \(size), \(method), run \(attempt)/\(repeats): appending \(count) events")
                    let start = ContinuousClock.now
                    for chunk in stride(from: 0, to: rows.count, by: size) {
                        try log.append(Array(rows[chunk..<min(chunk + size, rows.count)]))
                    }
                    timings.append((ContinuousClock.now - start).seconds)
                    try log.releaseLock()
                }
                let seconds = timings.sorted()[timings.count / 2]
                results.append([
                    "what": "LedgerStore append", "batch": String(size), "method": method.rawValue,
                    "events": String(count), "seconds": String(format: "%.3f", seconds),
                    "events_per_second": String(Int(Double(count) / seconds)),
                ])
            }
        }

        // The writer's whole transaction — events, checkpoint and projection
        // rows — sequentially (COPY, staging tables, one statement after
        // another) against pipelined (one round trip, the next batch sent
        // while one commits).
        for size in batch {
            for pipelined in [false, true] {
                let count = size == 1 ? singleEvents : events
                var timings: [Double] = []
                for attempt in 1...repeats {
                    let conninfo = try freshDatabase()
                    try Migrator.migrate(PGConnection(conninfo))
                    let log = try EventLog(connection: PGConnection(conninfo))
                    let method = pipelined ? "pipelined" : "sequential"
                    progress("writer transaction, batch \(size), \(method), run \(attempt)/\(repeats): \(count) events")
                    let events = Self.rows(count: count, after: 0).map { Submission(event: try! EventCodec.decodeRecorded(payload: $0.payload).get().event, contentDigest: $0.contentDigest) }
                    var state = LedgerState()
                    var inFlight: [(EventLog.SentBatch, LedgerDelta)] = []
                    let at = Timestamp(Date())
                    let start = ContinuousClock.now
                    for chunk in stride(from: 0, to: events.count, by: size) {
                        let decision = Ledger.decide(
                            batch: Array(events[chunk..<min(chunk + size, events.count)]), existing: [:], state: state,
                            pending: inFlight.map(\.1), at: at)
                        let rows = zip(decision.records, decision.digests).map { EventRow($0, contentDigest: $1) }
                        if pipelined {
                            inFlight.append((try log.send(rows, projections: try Projections.statements(for: decision.delta)), decision.delta))
                            if inFlight.count == 2 {
                                let (sent, delta) = inFlight.removeFirst()
                                try log.receive(sent)
                                state.apply(delta)
                            }
                        } else {
                            try log.append(rows) { try Projections(connection: $0).write(decision.delta) }
                            state.apply(decision.delta)
                        }
                    }
                    for (sent, delta) in inFlight {
                        try log.receive(sent)
                        state.apply(delta)
                    }
                    timings.append((ContinuousClock.now - start).seconds)
                    try log.releaseLock()
                }
                let seconds = timings.sorted()[timings.count / 2]
                results.append([
                    "what": "writer transaction", "batch": String(size), "method": pipelined ? "pipelined" : "sequential",
                    "events": String(count), "seconds": String(format: "%.3f", seconds),
                    "events_per_second": String(Int(Double(count) / seconds)),
                ])
            }
        }

        // psql's \copy of the same rows into a twin table (no trigger, same
        // indexes), in one transaction, on the same cluster.
        let conninfo = try freshDatabase()
        try Migrator.migrate(PGConnection(conninfo))
        let log = try EventLog(connection: PGConnection(conninfo))
        let head = log.head.position
        try log.append(Self.rows(count: events, after: head))
        let file = FileManager.default.temporaryDirectory.appending(path: "recovery-bench-\(getpid()).copy")
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try PGConnection(conninfo)
        var data = Data()
        try handle.copyOut(
            "COPY (SELECT * FROM events WHERE position > \(head) ORDER BY position) TO STDOUT"
        ) { data.append(contentsOf: $0) }
        try data.write(to: file)
        try handle.execute("DROP TABLE IF EXISTS events_twin; CREATE TABLE events_twin (LIKE events INCLUDING ALL)")
        let psql = cluster.map { $0.binDirectory.appending(path: "psql").path } ?? "/usr/bin/psql"
        var timings: [Double] = []
        for attempt in 1...repeats {
            try handle.execute("TRUNCATE events_twin")
            progress("psql \\copy of \(events) rows, run \(attempt)/\(repeats)")
            let start = ContinuousClock.now
            let process = Process()
            process.executableURL = URL(fileURLWithPath: psql)
            process.arguments = ["-q", "-v", "ON_ERROR_STOP=1", "-c", "\\copy events_twin FROM '\(file.path)'", conninfo]
            try process.run()
            process.waitUntilExit()
            timings.append((ContinuousClock.now - start).seconds)
            guard process.terminationStatus == 0 else { throw ValidationError("psql \\copy failed") }
        }
        let seconds = timings.sorted()[timings.count / 2]
        results.append([
            "what": "psql \\copy", "batch": String(events), "method": "copy", "events": String(events),
            "seconds": String(format: "%.3f", seconds), "events_per_second": String(Int(Double(events) / seconds)),
        ])

        if json {
            let encoded = try JSONSerialization.data(withJSONObject: results, options: [.sortedKeys])
            print(String(decoding: encoded, as: UTF8.self))
        } else {
            print("what                  batch   method        events   seconds   events/s")
            for r in results {
                print(
                    r["what"]!.padding(toLength: 22, withPad: " ", startingAt: 0)
                        + r["batch"]!.leftPadded(5) + "   " + r["method"]!.padding(toLength: 11, withPad: " ", startingAt: 0)
                        + r["events"]!.leftPadded(9) + r["seconds"]!.leftPadded(10) + r["events_per_second"]!.leftPadded(11))
            }
        }
    }

    /// Realistic rows: complaints with a short summary, positions after `head`.
    static func rows(count: Int, after head: Int64) -> [EventRow] {
        let at = Timestamp(Date())
        return (0..<count).map { index in
            let n = Int(head) + index + 1
            let event = Event(
                eventID: EventID(String(format: "%08x-0000-4000-8000-%012x", getpid(), n))!, agentID: "agent-\(n % 64)",
                caseID: "case-\(n)",
                body: .complaint(
                    Complaint(
                        customerID: "cust-\(n)", channel: .phone, category: "late delivery", severity: 3, baseline: 6,
                        summary: "The room was not ready at check-in; the guest waited two hours in the lobby.")))
            return EventRow(RecordedEvent(position: Int64(n), recordedAt: at, event: event))
        }
    }
}

func progress(_ message: String) {
    FileHandle.standardError.write(Data("recovery-bench: \(message)\n".utf8))
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
